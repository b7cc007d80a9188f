#include "amortize/dist/transforms/exp_transform.hpp"

#include "float_limits.hpp"

namespace amortize::dist {

Tensor ExpTransform::forward(const Tensor& x) const { return x.exp().clamp_min(float_limits(x.scalar_type()).tiny); }
Tensor ExpTransform::inverse(const Tensor& y) const { return y.log(); }
Tensor ExpTransform::log_abs_det_jacobian(const Tensor& x, const Tensor&) const { return x; }

}  // namespace amortize::dist
