// Discrete distributions over outcomes with probabilities (Bernoulli, Binomial, Categorical)
// are parameterised either by probabilities or by logits (log-odds, or unnormalised log
// probabilities). This tag says which one a constructor receives; the distribution keeps the
// given tensor as its parameter (so gradients flow to it) and derives the other from it.
#pragma once

namespace amortize::dist {

enum class ProbsOrLogits { Probs, Logits };

}  // namespace amortize::dist
