#include "numeric_checks.hpp"

#include <torch/csrc/autograd/autograd.h>

#include <cmath>

namespace amortize::testing {

at::Tensor finite_difference_gradient(const std::function<at::Tensor(const at::Tensor&)>& f, const at::Tensor& x,
                                      double step) {
  at::NoGradGuard no_grad;
  auto base = x.detach().to(at::kDouble).contiguous();
  auto grad = at::zeros_like(base);
  auto flat = base.view(-1);
  auto grad_flat = grad.view(-1);
  for (int64_t i = 0; i < flat.numel(); ++i) {
    auto plus = flat.clone();
    auto minus = flat.clone();
    plus[i] += step;
    minus[i] -= step;
    double fp = f(plus.view(base.sizes())).sum().item<double>();
    double fm = f(minus.view(base.sizes())).sum().item<double>();
    grad_flat[i] = (fp - fm) / (2 * step);
  }
  return grad;
}

at::Tensor autograd_gradient(const std::function<at::Tensor(const at::Tensor&)>& f, const at::Tensor& x) {
  auto leaf = x.detach().to(at::kDouble).clone().requires_grad_(true);
  auto out = f(leaf).sum();
  out.backward();
  return leaf.grad().detach();
}

at::Tensor autograd_jacobian(const std::function<at::Tensor(const at::Tensor&)>& f, const at::Tensor& x) {
  auto leaf = x.detach().clone().requires_grad_(true);
  auto y = f(leaf).reshape(-1);
  auto jac = at::zeros({y.numel(), leaf.numel()}, x.options());
  for (int64_t i = 0; i < y.numel(); ++i) {
    auto g = torch::autograd::grad({y[i]}, {leaf}, {}, /*retain_graph=*/true, false, /*allow_unused=*/true);
    if (g[0].defined()) jac[i] = g[0].reshape(-1);
  }
  return jac;
}

double ks_statistic(const at::Tensor& samples, const std::function<at::Tensor(const at::Tensor&)>& cdf) {
  auto sorted = std::get<0>(samples.detach().to(at::kDouble).reshape(-1).sort());
  const int64_t n = sorted.numel();
  auto f = cdf(sorted).to(at::kDouble);
  auto i = at::arange(1, n + 1, sorted.options());
  auto upper = (i / n - f).max().item<double>();
  auto lower = (f - (i - 1) / n).max().item<double>();
  return std::max(upper, lower);
}

double ks_critical_value(int64_t n, double alpha) {
  return std::sqrt(-0.5 * std::log(alpha / 2.0)) / std::sqrt(static_cast<double>(n));
}

}  // namespace amortize::testing
