// y = sigmoid(x) = 1 / (1 + exp(-x)): maps the real line onto the unit interval
// (biject_to(unit_interval), and with an affine map any interval). As in Pyro, the output is
// clamped to [tiny, 1 - eps] of its dtype so that it stays strictly inside (0, 1) in float32.
#pragma once
#include "amortize/dist/transforms/transform.hpp"

namespace amortize::dist {

class SigmoidTransform : public Transform {
 public:
  std::string name() const override { return "sigmoid"; }
  Tensor forward(const Tensor& x) const override;
  // logit(y) = log(y) - log1p(-y), with y clamped like the forward output.
  Tensor inverse(const Tensor& y) const override;
  // log |dy/dx| = log sigmoid(x) + log sigmoid(-x) = -softplus(-x) - softplus(x).
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor& y) const override;
  Constraint domain() const override { return constraints::real(); }
  Constraint codomain() const override { return constraints::unit_interval(); }
};

}  // namespace amortize::dist
