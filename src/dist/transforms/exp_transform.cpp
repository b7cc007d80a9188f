#include "amortize/dist/transforms/exp_transform.hpp"

namespace amortize::dist {

Tensor ExpTransform::forward(const Tensor& x) const { return x.exp(); }
Tensor ExpTransform::inverse(const Tensor& y) const { return y.log(); }
Tensor ExpTransform::log_abs_det_jacobian(const Tensor& x, const Tensor&) const { return x; }

}  // namespace amortize::dist
