// The composition of transforms applied left to right: forward runs parts[0] first. Parts may
// act on different event dimensions (an elementwise exp followed by a stick-breaking map); the
// log-determinant sums each part's term over the dimensions the composition treats as one
// event, as Pyro's ComposeTransform does.
#pragma once
#include "amortize/dist/transforms/transform.hpp"

#include <vector>

namespace amortize::dist {

class ComposeTransform : public Transform {
 public:
  explicit ComposeTransform(std::vector<TransformPtr> parts);

  std::string name() const override;
  const std::vector<TransformPtr>& parts() const { return parts_; }

  Tensor forward(const Tensor& x) const override;
  Tensor inverse(const Tensor& y) const override;
  // Reduced over domain().event_dim() rightmost dimensions of x.
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor& y) const override;
  // The first part's domain (last part's codomain), widened to the event dimensions the
  // whole chain needs.
  Constraint domain() const override;
  Constraint codomain() const override;
  Shape forward_shape(const Shape& shape) const override;
  Shape inverse_shape(const Shape& shape) const override;

 private:
  std::vector<TransformPtr> parts_;
};

}  // namespace amortize::dist
