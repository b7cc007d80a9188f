// A bijection y = f(x) between two constrained sets, with its inverse and the log absolute
// determinant of its Jacobian. Guides optimise in unconstrained space and push values through
// these onto a site's support; TransformedDistribution uses them to build new densities.
#pragma once
#include "amortize/dist/constraint.hpp"

#include <memory>
#include <string>

namespace amortize::dist {

class Transform {
 public:
  virtual ~Transform() = default;
  virtual std::string name() const = 0;

  virtual Tensor forward(const Tensor& x) const = 0;
  virtual Tensor inverse(const Tensor& y) const = 0;
  // log |det dy/dx| with the domain's event dimensions reduced: elementwise transforms return
  // x's shape, a transform of vectors returns x's shape without its last dimension.
  virtual Tensor log_abs_det_jacobian(const Tensor& x, const Tensor& y) const = 0;

  virtual Constraint domain() const = 0;
  virtual Constraint codomain() const = 0;
  int64_t domain_event_dim() const { return domain().event_dim(); }
  int64_t codomain_event_dim() const { return codomain().event_dim(); }

  // Shape of y for an x of `shape`, and back (they differ for StickBreaking, LowerCholesky).
  virtual Shape forward_shape(const Shape& shape) const { return shape; }
  virtual Shape inverse_shape(const Shape& shape) const { return shape; }
};

using TransformPtr = std::shared_ptr<const Transform>;

}  // namespace amortize::dist
