// Categorical(probs | logits): one of K categories, given by the last dimension of the
// parameter. Values are category indices 0..K-1 (event_dim 0); log_prob accepts them as
// int64 or as the parameters' floating dtype, and sample returns the floating dtype.
#pragma once
#include "amortize/dist/discrete/probs_or_logits.hpp"
#include "amortize/dist/distribution.hpp"

namespace amortize::dist {

class Categorical : public DistributionBase<Categorical> {
 public:
  // probs: non-negative weights along the last dimension (normalised here); or logits:
  // unnormalised log-probabilities (not NaN; -inf masks a category out).
  Categorical(TensorArg param, ProbsOrLogits kind);
  static Categorical from_probs(TensorArg probs) { return Categorical(probs, ProbsOrLogits::Probs); }
  static Categorical from_logits(TensorArg logits) { return Categorical(logits, ProbsOrLogits::Logits); }

  std::string type_name() const override { return "Categorical"; }
  at::TensorOptions options() const override { return probs_.options(); }
  ProbsOrLogits parameterization() const { return kind_; }
  int64_t num_categories() const { return probs_.size(-1); }
  // Normalised probabilities and log-probabilities, shape (*batch, K).
  const Tensor& probs() const { return probs_; }
  const Tensor& logits() const { return logits_; }

  Tensor log_prob(const Tensor& value) const override;
  Tensor sample(const Shape& sample_shape = {}, at::Generator gen = {}) const override;
  // Moments of the category index.
  Tensor mean() const override;
  Tensor variance() const override;
  Tensor entropy() const override;
  // The indices 0..K-1 along a new leading dimension: shape (K, *batch) if `expand`, else (K, 1, ..., 1).
  Tensor enumerate_support(bool expand = true) const;
  Constraint support() const override;
  DistPtr expand(const Shape& batch_shape) const override;

 private:
  // The index values 0..K-1 as a (K) tensor of the parameters' dtype.
  Tensor category_values() const;

  ProbsOrLogits kind_;
  Tensor given_;
  Tensor probs_;
  Tensor logits_;
};

}  // namespace amortize::dist
