#include "amortize/dist/discrete/poisson.hpp"

#include "discrete_math.hpp"

namespace amortize::dist {
using namespace discrete_math;

Poisson::Poisson(TensorArg rate) {
  rate_ = broadcast_args({rate})[0];
  require_nonnegative("Poisson", "rate", rate_);
  require_finite("Poisson", "rate", rate_);
  set_shapes(to_shape(rate_.sizes()));
}

Tensor Poisson::log_prob(const Tensor& value) const {
  validate_sample(value);
  const auto k = as_floating(value, options());
  // k log(rate), with log(rate) replaced by 0 where k = 0 so that rate = 0 gives 0, not NaN.
  const auto k_log_rate = k * at::log(replace_where(k == 0, 1.0, rate_));
  return k_log_rate - rate_ - at::lgamma(k + 1);
}

Tensor Poisson::sample(const Shape& sample_shape, at::Generator gen) const {
  at::NoGradGuard no_grad;
  return at::poisson(rate_.detach().expand(extended_shape(sample_shape)).contiguous(), gen);
}

DistPtr Poisson::expand(const Shape& batch_shape) const {
  check_expand(batch_shape);
  return std::make_shared<Poisson>(rate_.expand(batch_shape));
}

}  // namespace amortize::dist
