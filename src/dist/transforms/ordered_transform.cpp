#include "amortize/dist/transforms/ordered_transform.hpp"

namespace amortize::dist {

Tensor OrderedTransform::forward(const Tensor& x) const {
  require(x.dim() >= 1, "OrderedTransform: x must have at least one dimension");
  if (x.size(-1) < 2) return x;
  return at::cat({x.narrow(-1, 0, 1), x.narrow(-1, 1, x.size(-1) - 1).exp()}, -1).cumsum(-1);
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
