#include "amortize/dist/continuous/exponential.hpp"

#include "continuous_detail.hpp"

namespace amortize::dist {

Exponential::Exponential(TensorArg rate) {
  rate_ = continuous_detail::broadcast_named("Exponential", {rate})[0];
  require_positive("Exponential", "rate", rate_);
  set_shapes(to_shape(rate_.sizes()));
}

Tensor Exponential::log_prob(const Tensor& value) const {
  validate_sample(value);
  return continuous_detail::minus_inf_unless(value >= 0, rate_.log() - rate_ * value);
}

Tensor Exponential::rsample(const Shape& sample_shape, at::Generator gen) const {
  // -log1p(-u) is 0 when u == 0 (probability 2^-24 per float draw): floor the unit draw at the
  // smallest normal number so that no draw falls outside the support.
  auto u = at::rand(extended_shape(sample_shape), gen, options());
  const double floor = continuous_detail::smallest_normal(options().dtype().toScalarType());
  auto unit = (-at::log1p(-u)).clamp_min(floor);
  return unit / rate_;
}

Tensor Exponential::cdf(const Tensor& value) const { return -at::expm1(-rate_ * value.clamp_min(0)); }

DistPtr Exponential::expand(const Shape& batch_shape) const {
  check_expand(batch_shape);
  return std::make_shared<Exponential>(rate_.expand(batch_shape));
}

}  // namespace amortize::dist
