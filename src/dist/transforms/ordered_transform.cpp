#include "amortize/dist/transforms/ordered_transform.hpp"

#include "float_limits.hpp"

namespace amortize::dist {

Tensor OrderedTransform::forward(const Tensor& x) const {
  require(x.dim() >= 1, "OrderedTransform: x must have at least one dimension");
  if (x.size(-1) < 2) return x;
  const auto limits = float_limits(x.scalar_type());
  auto first = x.narrow(-1, 0, 1);
  auto steps = x.narrow(-1, 1, x.size(-1) - 1).exp();
  // |y_i| <= bound_i, and a step of 4 eps bound_i is at least two ulps of y_{i-1}: steps too
  // small to change the running sum are raised to that, so the output is strictly increasing.
  auto bound = first.abs() + steps.cumsum(-1);
  steps = at::maximum(steps, (4 * limits.eps * bound).clamp_min(limits.tiny));
  return at::cat({first, steps}, -1).cumsum(-1);
}

Tensor OrderedTransform::inverse(const Tensor& y) const {
  require(y.dim() >= 1, "OrderedTransform: y must have at least one dimension");
  if (y.size(-1) < 2) return y;
  const int64_t n = y.size(-1) - 1;
  return at::cat({y.narrow(-1, 0, 1), (y.narrow(-1, 1, n) - y.narrow(-1, 0, n)).log()}, -1);
}

Tensor OrderedTransform::log_abs_det_jacobian(const Tensor& x, const Tensor&) const {
  if (x.size(-1) < 2) return at::zeros_like(x.select(-1, 0));
  return x.narrow(-1, 1, x.size(-1) - 1).sum(-1);
}

}  // namespace amortize::dist
