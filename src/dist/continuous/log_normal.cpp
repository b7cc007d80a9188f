#include "amortize/dist/continuous/log_normal.hpp"

#include "continuous_detail.hpp"

namespace amortize::dist {
namespace {
constexpr double kHalfLog2Pi = 0.91893853320467274178;
constexpr double kSqrt2 = 1.41421356237309504880;
}  // namespace

LogNormal::LogNormal(TensorArg loc, TensorArg scale) {
  auto p = continuous_detail::broadcast_named("LogNormal", {loc, scale});
  loc_ = p[0];
  scale_ = p[1];
  require_finite("LogNormal", "loc", loc_);
  require_positive("LogNormal", "scale", scale_);
  set_shapes(to_shape(loc_.sizes()));
}

Tensor LogNormal::log_prob(const Tensor& value) const {
  validate_sample(value);
  // Values <= 0 (only reachable with validation off) get -inf; 1 stands in for them so that
  // log and its gradient stay finite in the branch where() discards.
  auto positive = value > 0;
  auto log_x = at::where(positive, value, at::ones_like(value)).log();
  auto z = (log_x - loc_) / scale_;
  return continuous_detail::minus_inf_unless(positive, -0.5 * z.square() - scale_.log() - kHalfLog2Pi - log_x);
}

Tensor LogNormal::rsample(const Shape& sample_shape, at::Generator gen) const {
  auto eps = at::randn(extended_shape(sample_shape), gen, options());
  return (loc_ + scale_ * eps).exp();
}

Tensor LogNormal::mean() const { return (loc_ + 0.5 * scale_.square()).exp(); }

Tensor LogNormal::variance() const {
  auto s2 = scale_.square();
  return at::expm1(s2) * (2 * loc_ + s2).exp();
}

Tensor LogNormal::entropy() const { return loc_ + 0.5 + kHalfLog2Pi + scale_.log(); }

Tensor LogNormal::cdf(const Tensor& value) const {
  // log(0) = -inf gives cdf 0 at and below 0.
  auto z = (value.clamp_min(0).log() - loc_) / (scale_ * kSqrt2);
  return 0.5 * at::erfc(-z);
}

DistPtr LogNormal::expand(const Shape& batch_shape) const {
  check_expand(batch_shape);
  return std::make_shared<LogNormal>(loc_.expand(batch_shape), scale_.expand(batch_shape));
}

}  // namespace amortize::dist
