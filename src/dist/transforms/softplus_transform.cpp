#include "amortize/dist/transforms/softplus_transform.hpp"

namespace amortize::dist {

// logaddexp(x, 0) = max(x, 0) + log1p(exp(-|x|)); its gradient 1 / (1 + exp(-x)) is exact
// at x = 0 and at both extremes, unlike a max/abs formulation.
Tensor SoftplusTransform::softplus(const Tensor& x) { return at::logaddexp(x, at::zeros_like(x)); }

Tensor SoftplusTransform::inverse(const Tensor& y) const { return y + at::log(-at::expm1(-y)); }

Tensor SoftplusTransform::log_abs_det_jacobian(const Tensor& x, const Tensor&) const { return -softplus(-x); }

}  // namespace amortize::dist
