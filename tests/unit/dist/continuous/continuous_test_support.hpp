// Checks shared by the continuous-distribution tests: error messages, Monte-Carlo moments and
// KS tests with tolerances derived from the standard error, and per-draw pathwise derivatives.
#pragma once
#include "amortize/dist/tensor_args.hpp"
#include "numeric_checks.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

namespace continuous_test {

inline at::TensorOptions f64() { return at::TensorOptions().dtype(at::kDouble); }
inline at::TensorOptions f32() { return at::TensorOptions().dtype(at::kFloat); }
inline at::Tensor d(double v) { return at::scalar_tensor(v, f64()); }
inline at::Tensor f(double v) { return at::scalar_tensor(v, f32()); }
inline at::Generator seeded(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

// Runs fn and expects a DistributionError whose message contains `expected`.
inline void expect_error(const std::function<void()>& fn, const std::string& expected) {
  try {
    fn();
    ADD_FAILURE() << "expected a DistributionError containing: " << expected;
  } catch (const amortize::dist::DistributionError& e) {
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
  }
}

// Sample mean and variance within kMonteCarloZ standard errors of the truth; the variance's
// standard error sqrt((m4 - var^2) / n) uses the sample's fourth central moment.
inline void expect_moments(const at::Tensor& draws, double mean, double variance) {
  auto x = draws.detach().to(at::kDouble).reshape(-1);
  const double n = static_cast<double>(x.numel());
  const double sample_mean = x.mean().item<double>();
  auto centred = x - sample_mean;
  const double sample_var = centred.square().mean().item<double>();
  const double m4 = centred.pow(4).mean().item<double>();
  EXPECT_NEAR(sample_mean, mean, amortize::testing::kMonteCarloZ * std::sqrt(variance / n));
  EXPECT_NEAR(sample_var, variance, amortize::testing::kMonteCarloZ * std::sqrt((m4 - sample_var * sample_var) / n));
}

inline void expect_ks(const at::Tensor& draws, const std::function<at::Tensor(const at::Tensor&)>& cdf) {
  const double ks = amortize::testing::ks_statistic(draws.reshape(-1), cdf);
  EXPECT_LT(ks, amortize::testing::ks_critical_value(draws.numel()));
}

struct Estimate {
  double mean;
  double standard_error;
};

// Mean and standard error of values (a Monte-Carlo estimate).
inline Estimate estimate(const at::Tensor& values) {
  auto v = values.detach().to(at::kDouble).reshape(-1);
  return {v.mean().item<double>(), v.std().item<double>() / std::sqrt(static_cast<double>(v.numel()))};
}

inline void expect_within_monte_carlo(const Estimate& e, double truth) {
  EXPECT_NEAR(e.mean, truth, amortize::testing::kMonteCarloZ * e.standard_error + 1e-12);
}

// d/dtheta E[f(x)] by the pathwise estimator: f_of_draws(theta) draws one x per element of
// theta (n copies of theta0) and returns f(x); each copy's gradient is one draw's derivative.
inline Estimate pathwise_derivative(const std::function<at::Tensor(const at::Tensor&)>& f_of_draws, double theta0,
                                    int64_t n) {
  auto theta = at::full({n}, theta0, f64()).requires_grad_(true);
  f_of_draws(theta).sum().backward();
  return estimate(theta.grad());
}

// Autograd and central-difference gradients of sum(fn(x)) agree (float64).
inline void expect_gradient_matches(const std::function<at::Tensor(const at::Tensor&)>& fn, const at::Tensor& x,
                                    double tolerance = 1e-6) {
  auto analytic = amortize::testing::autograd_gradient(fn, x);
  auto numeric = amortize::testing::finite_difference_gradient(fn, x);
  EXPECT_TRUE(at::allclose(analytic, numeric, tolerance, tolerance))
      << "autograd " << analytic << "\nfinite differences " << numeric;
}

}  // namespace continuous_test
