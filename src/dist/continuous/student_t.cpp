#include "amortize/dist/continuous/student_t.hpp"

#include "continuous_detail.hpp"

#include <limits>

namespace amortize::dist {
namespace {
constexpr double kHalfLog2Pi = 0.91893853320467274178;
}  // namespace

StudentT::StudentT(TensorArg df, TensorArg loc, TensorArg scale) {
  auto p = continuous_detail::broadcast_named("StudentT", {df, loc, scale});
  df_ = p[0];
  loc_ = p[1];
  scale_ = p[2];
  require_positive("StudentT", "df", df_);
  require_finite("StudentT", "loc", loc_);
  require_positive("StudentT", "scale", scale_);
  set_shapes(to_shape(loc_.sizes()));
}

Tensor StudentT::log_prob(const Tensor& value) const {
  validate_sample(value);
  // lgamma((df+1)/2) - lgamma(df/2) - log(df pi)/2 = log_gamma_half_ratio(df/2) - log(2 pi)/2,
  // and log1p(z^2/df) is taken as log1p_square_ratio(x - loc, scale sqrt(df)) so that nothing overflows.
  auto tail = 0.5 * (df_ + 1) * continuous_detail::log1p_square_ratio(value - loc_, scale_ * df_.sqrt());
  return continuous_detail::log_gamma_half_ratio(0.5 * df_) - kHalfLog2Pi - scale_.log() - tail;
}

Tensor StudentT::rsample(const Shape& sample_shape, at::Generator gen) const {
  // x = loc + scale * z / sqrt(chi2 / df) with chi2 = 2 Gamma(df/2): _standard_gamma's autograd
  // formula is the implicit reparameterisation gradient, so df receives gradients too.
  const auto shape = extended_shape(sample_shape);
  auto z = at::randn(shape, gen, options());
  auto gamma = at::_standard_gamma((0.5 * df_).expand(shape), gen);
  gamma = gamma.clamp_min(continuous_detail::smallest_normal(options().dtype().toScalarType()));
  return loc_ + scale_ * z * at::rsqrt(2 * gamma / df_);
}

Tensor StudentT::mean() const {
  return at::where(df_ > 1, loc_, at::full_like(loc_, std::numeric_limits<double>::quiet_NaN()));
}

Tensor StudentT::variance() const {
  auto finite = df_ > 2;
  auto safe_df = at::where(finite, df_, at::full_like(df_, 3.0));
  auto infinite_or_undefined = at::where(df_ > 1, at::full_like(df_, std::numeric_limits<double>::infinity()),
                                         at::full_like(df_, std::numeric_limits<double>::quiet_NaN()));
  return at::where(finite, scale_.square() * safe_df / (safe_df - 2), infinite_or_undefined);
}

Tensor StudentT::entropy() const {
  // log(scale) + (df+1)/2 (digamma((df+1)/2) - digamma(df/2)) + log(df)/2 + log B(df/2, 1/2),
  // regrouped with x = df/2 into pieces that are stable for huge df.
  auto x = 0.5 * df_;
  return scale_.log() + continuous_detail::weighted_digamma_half_difference(x) + kHalfLog2Pi -
         continuous_detail::log_gamma_half_ratio(x);
}

DistPtr StudentT::expand(const Shape& batch_shape) const {
  check_expand(batch_shape);
  return std::make_shared<StudentT>(df_.expand(batch_shape), loc_.expand(batch_shape), scale_.expand(batch_shape));
}

}  // namespace amortize::dist
