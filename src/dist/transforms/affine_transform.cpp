#include "amortize/dist/transforms/affine_transform.hpp"

#include "amortize/dist/distribution.hpp"

#include <ATen/ExpandUtils.h>

#include <algorithm>
#include <limits>

namespace amortize::dist {
namespace {
// Plain numbers are kept in float64 and cast to each input's dtype, so no precision is lost.
Tensor as_tensor(const TensorArg& a) {
  return a.is_tensor() ? a.tensor() : at::scalar_tensor(a.value(), at::TensorOptions().dtype(at::kDouble));
}

// +1 or -1 when every scale has that sign, 0 otherwise. Only looked at (a device sync for a
// tensor scale) when the domain is bounded, since the image of the real line is always real.
int sign_of(const TensorArg& scale, const Constraint& domain) {
  if (!scale.is_tensor()) return scale.value() > 0 ? 1 : (scale.value() < 0 ? -1 : 0);
  if (domain.kind() == ConstraintKind::Real) return 0;
  auto s = scale.tensor().detach();
  if ((s > 0).all().item<bool>()) return 1;
  if ((s < 0).all().item<bool>()) return -1;
  return 0;
}

Tensor like(const Tensor& t, const Tensor& x) { return t.to(x.device(), x.scalar_type()); }
}  // namespace

AffineTransform::AffineTransform(TensorArg loc, TensorArg scale, int64_t event_dim, Constraint domain)
    : loc_(as_tensor(loc)), scale_(as_tensor(scale)) {
  require(event_dim >= 0, "AffineTransform: event_dim must be non-negative, got " + std::to_string(event_dim));
  domain_ = domain.with_extra_event_dims(std::max<int64_t>(0, event_dim - domain.event_dim()));
  event_dim_ = domain_.event_dim();
  codomain_ = image_of(domain_, sign_of(scale, domain_));
}

Constraint AffineTransform::image_of(const Constraint& domain, int scale_sign) const {
  const auto loc = loc_.detach();
  const auto scale = scale_.detach();
  Constraint image = constraints::real();
  switch (domain.kind()) {
    case ConstraintKind::Positive:
      if (scale_sign > 0) image = constraints::greater_than(loc);
      if (scale_sign < 0) image = constraints::less_than(loc);
      break;
    case ConstraintKind::UnitInterval:
      if (scale_sign > 0) image = constraints::interval(loc, loc + scale);
      if (scale_sign < 0) image = constraints::interval(loc + scale, loc);
      break;
    default:
      break;
  }
  return image.with_extra_event_dims(domain.event_dim() - image.event_dim());
}

Tensor AffineTransform::forward(const Tensor& x) const {
  auto loc = like(loc_, x);
  auto y = loc + like(scale_, x) * x;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  if (codomain_.kind() == ConstraintKind::GreaterThan) {
    y = at::maximum(y, at::nextafter(loc, at::full_like(loc, kInf)));
  } else if (codomain_.kind() == ConstraintKind::LessThan) {
    y = at::minimum(y, at::nextafter(loc, at::full_like(loc, -kInf)));
  }
  return y;
}

Tensor AffineTransform::inverse(const Tensor& y) const { return (y - like(loc_, y)) / like(scale_, y); }

Tensor AffineTransform::log_abs_det_jacobian(const Tensor& x, const Tensor& y) const {
  auto log_scale = like(scale_, x).abs().log();
  auto shape = at::infer_size(x.sizes(), log_scale.sizes());
  if (y.defined()) shape = at::infer_size(shape, y.sizes());
  return sum_rightmost(log_scale.expand(shape), event_dim_);
}

Shape AffineTransform::forward_shape(const Shape& shape) const {
  return to_shape(at::infer_size(at::infer_size(shape, loc_.sizes()), scale_.sizes()));
}

Shape AffineTransform::inverse_shape(const Shape& shape) const { return forward_shape(shape); }

}  // namespace amortize::dist
