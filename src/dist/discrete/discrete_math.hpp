// Private helpers shared by the discrete distributions: edge-safe products with logarithms,
// the binary log-likelihood k log p + (n - k) log(1 - p) from probs or logits, and argument
// checks (not NaN, integer) with messages in the style of tensor_args.hpp.
#pragma once
#include "amortize/dist/discrete/probs_or_logits.hpp"
#include "amortize/dist/tensor_args.hpp"

#include <string>
#include <utility>

namespace amortize::dist::discrete_math {

// `t` with the entries where `condition` holds replaced by `value` (broadcasting both).
Tensor replace_where(const Tensor& condition, double value, const Tensor& t);

// Integer or boolean values converted to the parameters' floating dtype; floating ones kept.
Tensor as_floating(const Tensor& value, const at::TensorOptions& options);

// log(t) with log(0) = -inf, and a zero (not NaN) gradient flowing back at t = 0.
Tensor log_or_minus_inf(const Tensor& t);

// weight * term, but exactly 0 where weight == 0 (so that 0 * -inf = 0).
Tensor weighted_or_zero(const Tensor& weight, const Tensor& term);

// (probs, logits) of a binary outcome from the parameter actually given.
std::pair<Tensor, Tensor> binary_probs_and_logits(const Tensor& param, ProbsOrLogits kind);

// log p and log(1 - p) from the given parameter: log/log1p for probs, -softplus for logits.
Tensor log_success(const Tensor& param, ProbsOrLogits kind);
Tensor log_failure(const Tensor& param, ProbsOrLogits kind);

// k log p + (n - k) log(1 - p), finite wherever the probability is positive, with gradients
// that stay finite at p = 0 or 1 when the corresponding count is zero.
Tensor binary_log_likelihood(const Tensor& successes, const Tensor& trials, const Tensor& param, ProbsOrLogits kind);

// Throws "Dist: arg must not be NaN, got nan at index [i]" (only when validation is on).
void require_not_nan(const std::string& dist, const std::string& arg, const Tensor& t);
// Throws "Dist: arg must be an integer, got 2.5 at index [i]" (only when validation is on).
void require_integer(const std::string& dist, const std::string& arg, const Tensor& t);

}  // namespace amortize::dist::discrete_math
