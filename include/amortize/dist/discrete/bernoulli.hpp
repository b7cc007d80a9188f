// Bernoulli(probs | logits): one coin flip; values are 0 or 1 in the parameter's floating
// dtype. log_prob also accepts fractional values when validation is off (the binary
// cross-entropy likelihood of grey-level pixels).
#pragma once
#include "amortize/dist/discrete/probs_or_logits.hpp"
#include "amortize/dist/distribution.hpp"

namespace amortize::dist {

class Bernoulli : public DistributionBase<Bernoulli> {
 public:
  // probs in [0, 1], or logits (log-odds, not NaN; may be infinite).
  Bernoulli(TensorArg param, ProbsOrLogits kind);
  static Bernoulli from_probs(TensorArg probs) { return Bernoulli(probs, ProbsOrLogits::Probs); }
  static Bernoulli from_logits(TensorArg logits) { return Bernoulli(logits, ProbsOrLogits::Logits); }

  std::string type_name() const override { return "Bernoulli"; }
  at::TensorOptions options() const override { return probs_.options(); }
  ProbsOrLogits parameterization() const { return kind_; }
  const Tensor& probs() const { return probs_; }
  const Tensor& logits() const { return logits_; }
  // log P(x = 1) and log P(x = 0), computed stably from the given parameter.
  Tensor log_prob_one() const;
  Tensor log_prob_zero() const;

  Tensor log_prob(const Tensor& value) const override;
  Tensor sample(const Shape& sample_shape = {}, at::Generator gen = {}) const override;
  Tensor mean() const override { return probs_; }
  Tensor variance() const override { return probs_ * (1 - probs_); }
  Tensor entropy() const override;
  // The values {0, 1} along a new leading dimension: shape (2, *batch) if `expand`, else (2, 1, ..., 1).
  Tensor enumerate_support(bool expand = true) const;
  Constraint support() const override { return constraints::boolean(); }
  DistPtr expand(const Shape& batch_shape) const override;

 private:
  ProbsOrLogits kind_;
  Tensor probs_;
  Tensor logits_;
};

}  // namespace amortize::dist
