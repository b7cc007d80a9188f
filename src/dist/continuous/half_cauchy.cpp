#include "amortize/dist/continuous/half_cauchy.hpp"

#include "continuous_detail.hpp"

#include <cmath>
#include <limits>

namespace amortize::dist {
namespace {
constexpr double kLogTwoOverPi = -0.45158270528945486473;
constexpr double kLogTwoPi = 1.83787706640934548356;
}  // namespace

HalfCauchy::HalfCauchy(TensorArg scale) {
  scale_ = continuous_detail::broadcast_named("HalfCauchy", {scale})[0];
  require_positive("HalfCauchy", "scale", scale_);
  set_shapes(to_shape(scale_.sizes()));
}

Tensor HalfCauchy::log_prob(const Tensor& value) const {
  validate_sample(value);
  auto lp = kLogTwoOverPi - scale_.log() - continuous_detail::log1p_square_ratio(value, scale_);
  return continuous_detail::minus_inf_unless(value >= 0, lp);
}

Tensor HalfCauchy::rsample(const Shape& sample_shape, at::Generator gen) const {
  auto u = at::rand(extended_shape(sample_shape), gen, options());
  return scale_ * at::tan(M_PI * (u - 0.5)).abs();
}

Tensor HalfCauchy::mean() const { return at::full(batch_shape(), std::numeric_limits<double>::infinity(), options()); }
Tensor HalfCauchy::variance() const { return mean(); }
Tensor HalfCauchy::entropy() const { return kLogTwoPi + scale_.log(); }

Tensor HalfCauchy::cdf(const Tensor& value) const { return M_2_PI * at::atan(value.clamp_min(0) / scale_); }

DistPtr HalfCauchy::expand(const Shape& batch_shape) const {
  check_expand(batch_shape);
  return std::make_shared<HalfCauchy>(scale_.expand(batch_shape));
}

}  // namespace amortize::dist
