// Independent double-precision references for the Gamma-family tests: digamma and trigamma by
// recurrence plus asymptotic series, and Monte-Carlo summaries of per-draw quantities.
#pragma once
#include <ATen/ATen.h>

#include <cmath>

namespace amortize::testing {

inline double digamma_ref(double x) {
  double shift = 0.0;
  for (; x < 15.0; x += 1.0) shift -= 1.0 / x;
  const double f = 1.0 / (x * x);
  return shift + std::log(x) - 0.5 / x - f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f / 132))));
}

inline double trigamma_ref(double x) {
  double shift = 0.0;
  for (; x < 15.0; x += 1.0) shift += 1.0 / (x * x);
  const double f = 1.0 / (x * x);
  return shift + 1.0 / x + 0.5 * f +
         f / x * (1.0 / 6 - f * (1.0 / 30 - f * (1.0 / 42 - f * (1.0 / 30 - f * 5.0 / 66))));
}

inline double log_beta_ref(double a, double b) { return std::lgamma(a) + std::lgamma(b) - std::lgamma(a + b); }

// Mean of independent per-draw values and its Monte-Carlo standard error.
struct MonteCarloEstimate {
  double mean;
  double standard_error;
};

inline MonteCarloEstimate monte_carlo(const at::Tensor& per_draw) {
  auto v = per_draw.detach().to(at::kDouble).reshape(-1);
  return {v.mean().item<double>(), v.std().item<double>() / std::sqrt(static_cast<double>(v.numel()))};
}

}  // namespace amortize::testing
