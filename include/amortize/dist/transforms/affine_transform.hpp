// y = loc + scale * x, elementwise, optionally over `event_dim` rightmost dimensions taken as
// one event (its log-determinant is then summed over them). Given the domain it is applied to
// (positive, unit interval), it knows its image: exp followed by affine(a, 1) maps onto
// greater_than(a), sigmoid followed by affine(a, b - a) onto interval(a, b).
#pragma once
#include "amortize/dist/transforms/transform.hpp"

namespace amortize::dist {

class AffineTransform : public Transform {
 public:
  // `domain` is the set x lives in (real, positive or unit_interval); its event dimensions are
  // raised to `event_dim` if smaller.
  AffineTransform(TensorArg loc, TensorArg scale, int64_t event_dim = 0, Constraint domain = constraints::real());

  std::string name() const override { return "affine"; }
  const Tensor& loc() const { return loc_; }
  const Tensor& scale() const { return scale_; }

  // When the image is open on one side (greater_than, less_than), the output is kept strictly
  // past the bound even where loc + scale * x rounds onto it.
  Tensor forward(const Tensor& x) const override;
  Tensor inverse(const Tensor& y) const override;
  // log |scale| broadcast with x (and y when given), summed over the event dimensions.
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor& y) const override;
  Constraint domain() const override { return domain_; }
  Constraint codomain() const override { return codomain_; }
  Shape forward_shape(const Shape& shape) const override;
  Shape inverse_shape(const Shape& shape) const override;

 private:
  Constraint image_of(const Constraint& domain, int scale_sign) const;

  Tensor loc_;
  Tensor scale_;
  int64_t event_dim_;
  Constraint domain_;
  Constraint codomain_;
};

}  // namespace amortize::dist
