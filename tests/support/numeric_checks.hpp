// Shared helpers for the statistical and numerical tests: central finite differences,
// the Kolmogorov-Smirnov statistic, and Monte-Carlo tolerances.
#pragma once
#include <ATen/ATen.h>

#include <functional>

namespace amortize::testing {

// Gradient of a scalar function by central differences, elementwise over x (float64).
at::Tensor finite_difference_gradient(const std::function<at::Tensor(const at::Tensor&)>& f, const at::Tensor& x,
                                      double step = 1e-6);

// Gradient of sum(f(x)) by autograd, for comparison with finite_difference_gradient.
at::Tensor autograd_gradient(const std::function<at::Tensor(const at::Tensor&)>& f, const at::Tensor& x);

// Full Jacobian of a vector function by autograd: rows are outputs, columns inputs (flattened).
at::Tensor autograd_jacobian(const std::function<at::Tensor(const at::Tensor&)>& f, const at::Tensor& x);

// sup |F_n - F| for 1-D samples against a cdf.
double ks_statistic(const at::Tensor& samples, const std::function<at::Tensor(const at::Tensor&)>& cdf);

// Asymptotic critical value of the KS statistic at significance `alpha` for n samples.
double ks_critical_value(int64_t n, double alpha = 1e-3);

// z-multiple of the Monte-Carlo standard error for tolerances: |estimate - truth| <= k * se.
constexpr double kMonteCarloZ = 4.0;

}  // namespace amortize::testing
