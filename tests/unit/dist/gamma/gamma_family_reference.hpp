// Independent double-precision references for the Gamma-family tests: digamma and trigamma by
// recurrence plus asymptotic series, and the float64 scalars the tests are written in.
#pragma once
#include <ATen/ATen.h>

#include <cmath>

#include "monte_carlo_estimate.hpp"

namespace amortize::testing {

inline at::TensorOptions f64() { return at::TensorOptions().dtype(at::kDouble); }
inline at::Tensor scalar64(double v) { return at::scalar_tensor(v, f64()); }

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

}  // namespace amortize::testing
