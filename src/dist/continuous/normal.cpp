#include "amortize/dist/continuous/normal.hpp"

#include <cmath>

namespace amortize::dist {
namespace {
constexpr double kHalfLog2Pi = 0.91893853320467274178;
constexpr double kSqrt2 = 1.41421356237309504880;
}  // namespace

Normal::Normal(TensorArg loc, TensorArg scale) {
  auto p = broadcast_args({loc, scale});
  loc_ = p[0];
  scale_ = p[1];
  require_finite("Normal", "loc", loc_);
  require_positive("Normal", "scale", scale_);
  set_shapes(to_shape(loc_.sizes()));
}

Tensor Normal::log_prob(const Tensor& value) const {
  validate_sample(value);
  auto z = (value - loc_) / scale_;
  return -0.5 * z.square() - scale_.log() - kHalfLog2Pi;
}

Tensor Normal::rsample(const Shape& sample_shape, at::Generator gen) const {
  auto eps = at::randn(extended_shape(sample_shape), gen, options());
  return loc_ + scale_ * eps;
}

Tensor Normal::entropy() const { return 0.5 + kHalfLog2Pi + scale_.log(); }

Tensor Normal::cdf(const Tensor& value) const { return 0.5 * at::erfc(-(value - loc_) / (scale_ * kSqrt2)); }

Tensor Normal::icdf(const Tensor& p) const { return loc_ + scale_ * kSqrt2 * at::erfinv(2 * p - 1); }

DistPtr Normal::expand(const Shape& batch_shape) const {
  check_expand(batch_shape);
  return std::make_shared<Normal>(loc_.expand(batch_shape), scale_.expand(batch_shape));
}

}  // namespace amortize::dist
