// y = exp(x): maps the real line onto the positive reals (biject_to(positive)).
#pragma once
#include "amortize/dist/transforms/transform.hpp"

namespace amortize::dist {

class ExpTransform : public Transform {
 public:
  std::string name() const override { return "exp"; }
  // Kept at least the smallest normal number of the dtype, so that it stays positive where exp
  // underflows (x below about -708 in float64, -87 in float32).
  Tensor forward(const Tensor& x) const override;
  Tensor inverse(const Tensor& y) const override;
  // log |dy/dx| = x.
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor& y) const override;
  Constraint domain() const override { return constraints::real(); }
  Constraint codomain() const override { return constraints::positive(); }
};

}  // namespace amortize::dist
