#include "amortize/dist/transforms/sigmoid_transform.hpp"

#include "amortize/dist/transforms/softplus_transform.hpp"
#include "float_limits.hpp"

namespace amortize::dist {
namespace {
Tensor clamp_inside_unit_interval(const Tensor& y) {
  const auto limits = float_limits(y.scalar_type());
  return y.clamp(limits.tiny, 1.0 - limits.eps);
}
}  // namespace

Tensor SigmoidTransform::forward(const Tensor& x) const { return clamp_inside_unit_interval(at::sigmoid(x)); }

Tensor SigmoidTransform::inverse(const Tensor& y) const {
  auto p = clamp_inside_unit_interval(y);
  return p.log() - at::log1p(-p);
}

Tensor SigmoidTransform::log_abs_det_jacobian(const Tensor& x, const Tensor&) const {
  return -SoftplusTransform::softplus(-x) - SoftplusTransform::softplus(x);
}

}  // namespace amortize::dist
