// y = softplus(x) = log(1 + exp(x)): maps the real line onto the positive reals, growing
// linearly instead of exponentially, which keeps optimisation of positive scales tame.
#pragma once
#include "amortize/dist/transforms/transform.hpp"

namespace amortize::dist {

class SoftplusTransform : public Transform {
 public:
  std::string name() const override { return "softplus"; }
  // Kept at least the smallest normal number so that it stays positive where it underflows.
  Tensor forward(const Tensor& x) const override;
  // x = y + log(-expm1(-y)), accurate both for tiny y and for large y.
  Tensor inverse(const Tensor& y) const override;
  // log |dy/dx| = log sigmoid(x) = -softplus(-x).
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor& y) const override;
  Constraint domain() const override { return constraints::real(); }
  Constraint codomain() const override { return constraints::positive(); }

  // log(1 + exp(x)) without overflow or cancellation for any x, with gradient sigmoid(x).
  static Tensor softplus(const Tensor& x);
};

}  // namespace amortize::dist
