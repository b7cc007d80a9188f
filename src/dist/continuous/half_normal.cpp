#include "amortize/dist/continuous/half_normal.hpp"

#include "continuous_detail.hpp"

namespace amortize::dist {
namespace {
constexpr double kHalfLogTwoOverPi = -0.22579135264472743236;  // log(2/pi) / 2
constexpr double kHalfLogPiOverTwo = 0.22579135264472743236;
constexpr double kSqrtTwoOverPi = 0.79788456080286535588;
constexpr double kTwoOverPi = 0.63661977236758134308;
constexpr double kSqrt2 = 1.41421356237309504880;
}  // namespace

HalfNormal::HalfNormal(TensorArg scale) {
  scale_ = continuous_detail::broadcast_named("HalfNormal", {scale})[0];
  require_positive("HalfNormal", "scale", scale_);
  set_shapes(to_shape(scale_.sizes()));
}

Tensor HalfNormal::log_prob(const Tensor& value) const {
  validate_sample(value);
  auto z = value / scale_;
  return continuous_detail::minus_inf_unless(value >= 0, kHalfLogTwoOverPi - scale_.log() - 0.5 * z.square());
}

Tensor HalfNormal::rsample(const Shape& sample_shape, at::Generator gen) const {
  return scale_ * at::randn(extended_shape(sample_shape), gen, options()).abs();
}

Tensor HalfNormal::mean() const { return kSqrtTwoOverPi * scale_; }
Tensor HalfNormal::variance() const { return (1 - kTwoOverPi) * scale_.square(); }
Tensor HalfNormal::entropy() const { return kHalfLogPiOverTwo + 0.5 + scale_.log(); }

Tensor HalfNormal::cdf(const Tensor& value) const { return at::erf(value.clamp_min(0) / (scale_ * kSqrt2)); }

DistPtr HalfNormal::expand(const Shape& batch_shape) const {
  check_expand(batch_shape);
  return std::make_shared<HalfNormal>(scale_.expand(batch_shape));
}

}  // namespace amortize::dist
