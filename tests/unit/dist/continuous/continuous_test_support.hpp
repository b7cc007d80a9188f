// Checks shared by the continuous-distribution tests: Monte-Carlo moments and KS tests with
// tolerances derived from the standard error, per-draw pathwise derivatives and gradients against
// finite differences. Each check returns an AssertionResult for the test to EXPECT_TRUE.
#pragma once
#include "amortize/dist/tensor_args.hpp"
#include "distribution_assertions.hpp"
#include "monte_carlo_estimate.hpp"
#include "numeric_checks.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

namespace continuous_test {

using amortize::testing::is_near;
using amortize::testing::monte_carlo;
using amortize::testing::MonteCarloEstimate;
using amortize::testing::throws_error;

inline at::TensorOptions f64() { return at::TensorOptions().dtype(at::kDouble); }
inline at::TensorOptions f32() { return at::TensorOptions().dtype(at::kFloat); }
inline at::Tensor d(double v) { return at::scalar_tensor(v, f64()); }
inline at::Tensor f(double v) { return at::scalar_tensor(v, f32()); }
inline at::Generator seeded(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

// Sample mean and variance within kMonteCarloZ standard errors of the truth; the variance's
// standard error sqrt((m4 - var^2) / n) uses the sample's fourth central moment.
inline ::testing::AssertionResult moments_match(const at::Tensor& draws, double mean, double variance) {
  auto x = draws.detach().to(at::kDouble).reshape(-1);
  const double n = static_cast<double>(x.numel());
  const double sample_mean = x.mean().item<double>();
  auto centred = x - sample_mean;
  const double sample_var = centred.square().mean().item<double>();
  const double m4 = centred.pow(4).mean().item<double>();
  auto mean_ok =
      amortize::testing::is_near(sample_mean, mean, amortize::testing::kMonteCarloZ * std::sqrt(variance / n));
  if (!mean_ok) return mean_ok << " (sample mean)";
  return amortize::testing::is_near(sample_var, variance,
                                    amortize::testing::kMonteCarloZ * std::sqrt((m4 - sample_var * sample_var) / n))
         << " (sample variance)";
}

// The Kolmogorov-Smirnov statistic of the draws against cdf is below its critical value.
inline ::testing::AssertionResult passes_ks(const at::Tensor& draws,
                                            const std::function<at::Tensor(const at::Tensor&)>& cdf) {
  const double ks = amortize::testing::ks_statistic(draws.reshape(-1), cdf);
  const double critical = amortize::testing::ks_critical_value(draws.numel());
  if (ks < critical) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "KS statistic " << ks << " is not below the critical value " << critical
                                       << " for " << draws.numel() << " draws";
}

// The estimate is within kMonteCarloZ standard errors of the truth.
inline ::testing::AssertionResult within_monte_carlo(const MonteCarloEstimate& e, double truth) {
  return amortize::testing::is_near(e.mean, truth, amortize::testing::kMonteCarloZ * e.standard_error + 1e-12)
         << " (Monte-Carlo estimate with standard error " << e.standard_error << ")";
}

// d/dtheta E[f(x)] by the pathwise estimator: f_of_draws(theta) draws one x per element of
// theta (n copies of theta0) and returns f(x); each copy's gradient is one draw's derivative.
inline MonteCarloEstimate pathwise_derivative(const std::function<at::Tensor(const at::Tensor&)>& f_of_draws,
                                              double theta0, int64_t n) {
  auto theta = at::full({n}, theta0, f64()).requires_grad_(true);
  f_of_draws(theta).sum().backward();
  return monte_carlo(theta.grad());
}

// Autograd and central-difference gradients of sum(fn(x)) agree (float64).
inline ::testing::AssertionResult gradient_matches(const std::function<at::Tensor(const at::Tensor&)>& fn,
                                                   const at::Tensor& x, double tolerance = 1e-6) {
  auto analytic = amortize::testing::autograd_gradient(fn, x);
  auto numeric = amortize::testing::finite_difference_gradient(fn, x);
  if (at::allclose(analytic, numeric, tolerance, tolerance)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "autograd " << analytic << "\nfinite differences " << numeric;
}

}  // namespace continuous_test
