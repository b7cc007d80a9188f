// Binomial(total_count, probs | logits): the number of successes in total_count independent
// trials; values are integers 0..total_count in the parameters' floating dtype.
#pragma once
#include "amortize/dist/discrete/probs_or_logits.hpp"
#include "amortize/dist/distribution.hpp"

namespace amortize::dist {

class Binomial : public DistributionBase<Binomial> {
 public:
  // total_count: non-negative integers; probs in [0, 1] or logits (not NaN).
  Binomial(TensorArg total_count, TensorArg param, ProbsOrLogits kind);
  static Binomial from_probs(TensorArg total_count, TensorArg probs) {
    return Binomial(total_count, probs, ProbsOrLogits::Probs);
  }
  static Binomial from_logits(TensorArg total_count, TensorArg logits) {
    return Binomial(total_count, logits, ProbsOrLogits::Logits);
  }

  std::string type_name() const override { return "Binomial"; }
  at::TensorOptions options() const override { return probs_.options(); }
  ProbsOrLogits parameterization() const { return kind_; }
  const Tensor& total_count() const { return total_count_; }
  const Tensor& probs() const { return probs_; }
  const Tensor& logits() const { return logits_; }
  // log p and log(1 - p), computed stably from the given parameter.
  Tensor log_success_prob() const;
  Tensor log_failure_prob() const;

  Tensor log_prob(const Tensor& value) const override;
  Tensor sample(const Shape& sample_shape = {}, at::Generator gen = {}) const override;
  Tensor mean() const override { return total_count_ * probs_; }
  Tensor variance() const override { return total_count_ * probs_ * (1 - probs_); }
  // entropy() is not available in closed form (throws).
  Constraint support() const override { return constraints::integer_interval(0.0, total_count_); }
  DistPtr expand(const Shape& batch_shape) const override;

 private:
  const Tensor& given() const { return kind_ == ProbsOrLogits::Probs ? probs_ : logits_; }

  ProbsOrLogits kind_;
  Tensor total_count_;
  Tensor probs_;
  Tensor logits_;
};

}  // namespace amortize::dist
