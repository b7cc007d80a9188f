#include "amortize/dist/transforms/stick_breaking_transform.hpp"

#include "amortize/dist/transforms/softplus_transform.hpp"
#include "float_limits.hpp"

namespace amortize::dist {
namespace {
// x_i - log(K-1-i): the shift that sends x = 0 to the uniform simplex.
Tensor centred(const Tensor& x) {
  const int64_t n = x.size(-1);
  auto offset = at::arange(n, 0, -1, x.options().requires_grad(false));
  return x - offset.log();
}

// Sum over j < i along the last dimension (zero for i = 0), without subtracting.
Tensor exclusive_cumsum(const Tensor& v) {
  auto zero = at::zeros_like(v.narrow(-1, 0, 1));
  return at::cat({zero, v.narrow(-1, 0, v.size(-1) - 1).cumsum(-1)}, -1);
}

void require_vector(const Shape& shape, const char* what) {
  require(!shape.empty(), std::string("StickBreakingTransform: ") + what + " must have at least one dimension");
}
}  // namespace

// In log space: log y_i = log z_i + sum_{j<i} log(1 - z_j) and log y_{K-1} = sum_j log(1 - z_j),
// with log z = -softplus(-x') and log(1 - z) = -softplus(x'), so no 1 - z ever cancels.
Tensor StickBreakingTransform::forward(const Tensor& x) const {
  require_vector(to_shape(x.sizes()), "x");
  if (x.size(-1) == 0) return at::ones(forward_shape(to_shape(x.sizes())), x.options());
  auto xc = centred(x);
  auto log_z = -SoftplusTransform::softplus(-xc);
  auto log_rest = -SoftplusTransform::softplus(xc);
  auto log_y = at::cat({log_z + exclusive_cumsum(log_rest), log_rest.sum(-1, true)}, -1);
  return log_y.exp().clamp_min(float_limits(x.scalar_type()).tiny);
}

// x_i = log y_i - log(sum_{j>i} y_j) + log(K-1-i); the remaining stick is summed from the end
// rather than computed as 1 - cumsum, which would cancel when the first coordinates dominate.
Tensor StickBreakingTransform::inverse(const Tensor& y) const {
  require_vector(to_shape(y.sizes()), "y");
  const int64_t k1 = y.size(-1) - 1;
  auto head = y.narrow(-1, 0, k1);
  auto rest = y.narrow(-1, 1, k1).flip(-1).cumsum(-1).flip(-1);
  rest = rest.clamp_min(float_limits(y.scalar_type()).tiny);
  auto offset = at::arange(k1, 0, -1, y.options().requires_grad(false));
  return head.log() - rest.log() + offset.log();
}

// The Jacobian from x to y_0..y_{K-2} is triangular with diagonal
// y_i / z_i * z_i (1 - z_i), so log|det| = sum_i [log z_i + sum_{j<=i} log(1 - z_j)].
Tensor StickBreakingTransform::log_abs_det_jacobian(const Tensor& x, const Tensor&) const {
  auto xc = centred(x);
  auto log_z = -SoftplusTransform::softplus(-xc);
  auto log_rest = -SoftplusTransform::softplus(xc);
  return (log_z + log_rest.cumsum(-1)).sum(-1);
}

Shape StickBreakingTransform::forward_shape(const Shape& shape) const {
  require_vector(shape, "x");
  Shape out = shape;
  out.back() += 1;
  return out;
}

Shape StickBreakingTransform::inverse_shape(const Shape& shape) const {
  require_vector(shape, "y");
  require(shape.back() >= 1,
          "StickBreakingTransform: a simplex needs at least one coordinate, got shape " + shape_string(shape));
  Shape out = shape;
  out.back() -= 1;
  return out;
}

}  // namespace amortize::dist
