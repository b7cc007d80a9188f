#include "amortize/dist/continuous/gamma.hpp"

#include "gamma_family_math.hpp"

namespace amortize::dist {

Gamma::Gamma(TensorArg concentration, TensorArg rate) {
  auto p = gamma_family::broadcast_named("Gamma", {concentration, rate});
  concentration_ = p[0];
  rate_ = p[1];
  require_positive("Gamma", "concentration", concentration_);
  require_positive("Gamma", "rate", rate_);
  set_shapes(to_shape(concentration_.sizes()));
}

Tensor Gamma::log_prob(const Tensor& value) const {
  validate_sample(value);
  return gamma_family::xlogx_power(concentration_ - 1, value) + concentration_ * rate_.log() - rate_ * value -
         at::lgamma(concentration_);
}

Tensor Gamma::rsample(const Shape& sample_shape, at::Generator gen) const {
  const auto shape = extended_shape(sample_shape);
  // ATen's _standard_gamma carries the implicit reparameterisation gradient
  // d x / d a = -(dF/da) / f(x) (its backward is _standard_gamma_grad).
  Tensor value = at::_standard_gamma(concentration_.expand(shape), gen) / rate_.expand(shape);
  // Dividing by a large rate can underflow to 0, outside the support; floor the values only.
  value.detach().clamp_min_(gamma_family::smallest_normal(value.scalar_type()));
  return value;
}

Tensor Gamma::entropy() const {
  return concentration_ - rate_.log() + at::lgamma(concentration_) + (1 - concentration_) * at::digamma(concentration_);
}

Tensor Gamma::cdf(const Tensor& value) const { return at::igamma(concentration_, rate_ * value); }

DistPtr Gamma::expand(const Shape& batch_shape) const {
  check_expand(batch_shape);
  return std::make_shared<Gamma>(concentration_.expand(batch_shape), rate_.expand(batch_shape));
}

}  // namespace amortize::dist
