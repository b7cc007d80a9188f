// The conjugate model the inference tests share: mu ~ N(0, prior_sd^2), x_i ~ N(mu, 1) for
// 20 points, with its exact posterior, evidence and ELBO.
#pragma once
#include "amortize/dist/continuous/normal.hpp"
#include "amortize/model/primitives.hpp"

#include <cmath>

namespace amortize::testing {

inline at::TensorOptions f64() { return at::TensorOptions().dtype(at::kDouble); }

// mu ~ N(0, prior_sd^2), x_i ~ N(mu, 1): the posterior is N(post_mean, post_sd^2).
struct NormalMean {
  double prior_sd = 2.0;
  Tensor x = at::linspace(-1.0, 3.0, 20, f64());
  double post_var() const { return 1.0 / (1.0 / (prior_sd * prior_sd) + x.size(0)); }
  double post_mean() const { return post_var() * x.sum().item<double>(); }
  double log_evidence() const {
    // x ~ N(0, I + prior_sd^2 11^T)
    const int64_t n = x.size(0);
    auto cov = at::eye(n, f64()) + prior_sd * prior_sd * at::ones({n, n}, f64());
    auto l = at::linalg_cholesky(cov);
    auto z = at::linalg_solve_triangular(l, x.unsqueeze(-1), /*upper=*/false);
    return (-0.5 * z.square().sum() - l.diagonal().log().sum() - 0.5 * n * std::log(2 * M_PI)).item<double>();
  }
  void operator()() const {
    auto mu = model::sample("mu", dist::Normal(at::zeros({}, f64()), prior_sd));
    auto data = model::plate("data", x.size(0));
    model::sample("x", dist::Normal(mu, 1.0), data, x);
  }
  // Exact ELBO for q = N(m, s^2): E_q[log p(x, mu)] + entropy.
  double exact_elbo(double m, double s) const {
    const int64_t n = x.size(0);
    double e_lik = -0.5 * n * std::log(2 * M_PI) - 0.5 * ((x - m).square().sum().item<double>() + n * s * s);
    double e_prior = -0.5 * std::log(2 * M_PI * prior_sd * prior_sd) - 0.5 * (m * m + s * s) / (prior_sd * prior_sd);
    double entropy = 0.5 * std::log(2 * M_PI * M_E * s * s);
    return e_lik + e_prior + entropy;
  }
};

}  // namespace amortize::testing
