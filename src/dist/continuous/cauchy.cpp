#include "amortize/dist/continuous/cauchy.hpp"

#include "continuous_detail.hpp"

#include <cmath>
#include <limits>

namespace amortize::dist {
namespace {
constexpr double kLogPi = 1.14472988584940017414;
constexpr double kLogFourPi = 2.53102424696928997470;
}  // namespace

Cauchy::Cauchy(TensorArg loc, TensorArg scale) {
  auto p = continuous_detail::broadcast_named("Cauchy", {loc, scale});
  loc_ = p[0];
  scale_ = p[1];
  require_finite("Cauchy", "loc", loc_);
  require_positive("Cauchy", "scale", scale_);
  set_shapes(to_shape(loc_.sizes()));
}

Tensor Cauchy::log_prob(const Tensor& value) const {
  validate_sample(value);
  return -kLogPi - scale_.log() - continuous_detail::log1p_square_ratio(value - loc_, scale_);
}

Tensor Cauchy::rsample(const Shape& sample_shape, at::Generator gen) const {
  return icdf(at::rand(extended_shape(sample_shape), gen, options()));
}

Tensor Cauchy::mean() const { return at::full(batch_shape(), std::numeric_limits<double>::quiet_NaN(), options()); }
Tensor Cauchy::variance() const { return at::full(batch_shape(), std::numeric_limits<double>::infinity(), options()); }
Tensor Cauchy::entropy() const { return kLogFourPi + scale_.log(); }

Tensor Cauchy::cdf(const Tensor& value) const { return 0.5 + M_1_PI * at::atan((value - loc_) / scale_); }
Tensor Cauchy::icdf(const Tensor& p) const { return loc_ + scale_ * at::tan(M_PI * (p - 0.5)); }

DistPtr Cauchy::expand(const Shape& batch_shape) const {
  check_expand(batch_shape);
  return std::make_shared<Cauchy>(loc_.expand(batch_shape), scale_.expand(batch_shape));
}

}  // namespace amortize::dist
