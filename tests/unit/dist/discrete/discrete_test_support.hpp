// Shared checks for the discrete-distribution tests: empirical category frequencies and moments
// against the truth within Monte-Carlo error, each returned as an AssertionResult.
#pragma once
#include "amortize/dist/tensor_args.hpp"
#include "distribution_assertions.hpp"
#include "numeric_checks.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

namespace amortize::testing {

inline at::TensorOptions f64() { return at::TensorOptions().dtype(at::kDouble); }

// A 2-D tensor from rows of equal length.
inline at::Tensor matrix(const std::vector<std::vector<double>>& rows, at::TensorOptions options = f64()) {
  std::vector<at::Tensor> stacked;
  for (const auto& row : rows) stacked.push_back(at::tensor(row, at::TensorOptions().dtype(at::kDouble)));
  return at::stack(stacked).to(options);
}

// Every cell k: |count_k / n - p_k| <= kMonteCarloZ * sqrt(p_k (1 - p_k) / n); cells with
// p_k = 0 are never drawn. `draws` holds integer values (any dtype), `probs[k]` is P(x = k);
// values beyond probs.size() are pooled into the last cell as "the rest". Fails at the first cell off.
inline ::testing::AssertionResult frequencies_match(const at::Tensor& draws, const std::vector<double>& probs) {
  const auto flat = draws.reshape({-1}).to(at::kDouble);
  const auto n = static_cast<double>(flat.numel());
  double rest = 1.0;
  for (size_t k = 0; k < probs.size(); ++k) {
    const double count = (flat == static_cast<double>(k)).sum().item<double>();
    rest -= probs[k];
    if (probs[k] == 0.0) {
      if (count != 0.0) {
        return ::testing::AssertionFailure()
               << "category " << k << " has probability 0 but was drawn " << count << " times";
      }
      continue;
    }
    const double se = std::sqrt(probs[k] * (1 - probs[k]) / n);
    auto cell = is_near(count / n, probs[k], kMonteCarloZ * se);
    if (!cell) return cell << " (frequency of category " << k << ")";
  }
  const double beyond = (flat >= static_cast<double>(probs.size())).sum().item<double>();
  rest = std::max(rest, 0.0);
  return is_near(beyond / n, rest, kMonteCarloZ * std::sqrt(rest * (1 - rest) / n) + 1e-12)
         << " (frequency of the rest)";
}

// Sample mean and variance within Monte-Carlo error of the given moments (1-D draws).
inline ::testing::AssertionResult moments_match(const at::Tensor& draws, double mean, double variance) {
  const auto x = draws.reshape({-1}).to(at::kDouble);
  const auto n = static_cast<double>(x.numel());
  const double sample_mean = x.mean().item<double>();
  auto mean_ok = is_near(sample_mean, mean, kMonteCarloZ * std::sqrt(variance / n));
  if (!mean_ok) return mean_ok << " (sample mean)";
  // The standard error of the sample variance: sqrt((m4 - var^2) / n), m4 estimated from the draws.
  const auto centred = x - sample_mean;
  const double m4 = centred.pow(4).mean().item<double>();
  const double sample_var = centred.square().mean().item<double>();
  return is_near(sample_var, variance, kMonteCarloZ * std::sqrt(std::max(m4 - variance * variance, 0.0) / n) + 1e-12)
         << " (sample variance)";
}

}  // namespace amortize::testing
