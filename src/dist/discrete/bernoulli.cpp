#include "amortize/dist/discrete/bernoulli.hpp"

#include "discrete_math.hpp"

namespace amortize::dist {
using namespace discrete_math;

Bernoulli::Bernoulli(TensorArg param, ProbsOrLogits kind) : kind_(kind) {
  auto given = broadcast_args({param})[0];
  if (kind == ProbsOrLogits::Probs) {
    require_in_unit_interval("Bernoulli", "probs", given);
  } else {
    require_not_nan("Bernoulli", "logits", given);
  }
  std::tie(probs_, logits_) = binary_probs_and_logits(given, kind);
  set_shapes(to_shape(given.sizes()));
}

Tensor Bernoulli::log_prob_one() const { return log_success(kind_ == ProbsOrLogits::Probs ? probs_ : logits_, kind_); }
Tensor Bernoulli::log_prob_zero() const { return log_failure(kind_ == ProbsOrLogits::Probs ? probs_ : logits_, kind_); }

Tensor Bernoulli::log_prob(const Tensor& value) const {
  validate_sample(value);
  const auto x = as_floating(value, options());
  const auto& param = kind_ == ProbsOrLogits::Probs ? probs_ : logits_;
  return binary_log_likelihood(x, at::ones({}, x.options()), param, kind_);
}

Tensor Bernoulli::sample(const Shape& sample_shape, at::Generator gen) const {
  at::NoGradGuard no_grad;
  return at::bernoulli(probs_.detach().expand(extended_shape(sample_shape)), gen);
}

Tensor Bernoulli::entropy() const {
  return -(weighted_or_zero(probs_, log_prob_one()) + weighted_or_zero(1 - probs_, log_prob_zero()));
}

Tensor Bernoulli::enumerate_support(bool expand) const {
  Shape shape(batch_shape().size() + 1, 1);
  shape[0] = 2;
  auto values = at::arange(2, options()).reshape(shape);
  if (!expand) return values;
  Shape full = batch_shape();
  full.insert(full.begin(), 2);
  return values.expand(full);
}

DistPtr Bernoulli::expand(const Shape& batch_shape) const {
  check_expand(batch_shape);
  const auto& param = kind_ == ProbsOrLogits::Probs ? probs_ : logits_;
  return std::make_shared<Bernoulli>(param.expand(batch_shape), kind_);
}

}  // namespace amortize::dist
