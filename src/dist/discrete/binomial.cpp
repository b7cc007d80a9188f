#include "amortize/dist/discrete/binomial.hpp"

#include "discrete_math.hpp"

namespace amortize::dist {
using namespace discrete_math;

Binomial::Binomial(TensorArg total_count, TensorArg param, ProbsOrLogits kind) : kind_(kind) {
  auto p = broadcast_args({param, total_count});
  total_count_ = p[1];
  require_nonnegative("Binomial", "total_count", total_count_);
  require_integer("Binomial", "total_count", total_count_);
  if (kind == ProbsOrLogits::Probs) {
    require_in_unit_interval("Binomial", "probs", p[0]);
  } else {
    require_not_nan("Binomial", "logits", p[0]);
  }
  std::tie(probs_, logits_) = binary_probs_and_logits(p[0], kind);
  set_shapes(to_shape(p[0].sizes()));
}

Tensor Binomial::log_success_prob() const { return log_success(given(), kind_); }
Tensor Binomial::log_failure_prob() const { return log_failure(given(), kind_); }

Tensor Binomial::log_prob(const Tensor& value) const {
  validate_sample(value);
  const auto k = as_floating(value, options());
  const auto& n = total_count_;
  const auto log_choose = at::lgamma(n + 1) - at::lgamma(k + 1) - at::lgamma(n - k + 1);
  return log_choose + binary_log_likelihood(k, n, given(), kind_);
}

Tensor Binomial::sample(const Shape& sample_shape, at::Generator gen) const {
  at::NoGradGuard no_grad;
  const auto shape = extended_shape(sample_shape);
  return at::binomial(total_count_.detach().expand(shape).contiguous(), probs_.detach().expand(shape).contiguous(),
                      gen);
}

DistPtr Binomial::expand(const Shape& batch_shape) const {
  check_expand(batch_shape);
  return std::make_shared<Binomial>(total_count_.expand(batch_shape), given().expand(batch_shape), kind_);
}

}  // namespace amortize::dist
