// The identity map on the real line: what biject_to(real) returns, so that unconstrained sites
// go through the same code path as constrained ones.
#pragma once
#include "amortize/dist/transforms/transform.hpp"

namespace amortize::dist {

class IdentityTransform : public Transform {
 public:
  std::string name() const override { return "identity"; }
  Tensor forward(const Tensor& x) const override { return x; }
  Tensor inverse(const Tensor& y) const override { return y; }
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor& y) const override;
  Constraint domain() const override { return constraints::real(); }
  Constraint codomain() const override { return constraints::real(); }
};

}  // namespace amortize::dist
