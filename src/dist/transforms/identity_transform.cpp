#include "amortize/dist/transforms/identity_transform.hpp"

namespace amortize::dist {

Tensor IdentityTransform::log_abs_det_jacobian(const Tensor& x, const Tensor&) const { return at::zeros_like(x); }

}  // namespace amortize::dist
