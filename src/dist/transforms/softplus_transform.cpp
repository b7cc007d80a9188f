#include "amortize/dist/transforms/softplus_transform.hpp"

#include "float_limits.hpp"

namespace amortize::dist {

// LibTorch's softplus computes log1p(exp(x)) below a threshold and returns x above it, with
// gradient exp(x) / (1 + exp(x)) below. The threshold is where log1p(exp(-x)) drops under half
// an ulp of x, and low enough that exp(x) cannot overflow (at::logaddexp would lose all relative
// precision for x << 0, since it rounds 1 + exp(x)).
Tensor SoftplusTransform::softplus(const Tensor& x) {
  const double threshold = x.scalar_type() == at::kDouble ? 40.0 : (x.scalar_type() == at::kFloat ? 20.0 : 10.0);
  return at::softplus(x, 1.0, threshold);
}

Tensor SoftplusTransform::forward(const Tensor& x) const {
  return softplus(x).clamp_min(float_limits(x.scalar_type()).tiny);
}

Tensor SoftplusTransform::inverse(const Tensor& y) const { return y + at::log(-at::expm1(-y)); }

Tensor SoftplusTransform::log_abs_det_jacobian(const Tensor& x, const Tensor&) const { return -softplus(-x); }

}  // namespace amortize::dist
