// Independent reference computations for the multivariate-normal tests: densities, entropies
// and KL divergences from an explicit dense covariance, its LU inverse and log-determinant
// (no Cholesky or triangular solve), plus random well-conditioned parameters and a Monte-Carlo
// check of sample moments.
#pragma once
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>

#include "assertions.hpp"
#include "numeric_checks.hpp"

namespace amortize::testing {

inline at::TensorOptions f64() { return at::TensorOptions().dtype(at::kDouble); }

// A random lower-triangular factor with positive diagonal, shape batch + (n, n).
inline at::Tensor random_scale_tril(std::vector<int64_t> batch, int64_t n, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto shape = batch;
  shape.push_back(n);
  shape.push_back(n);
  auto a = at::randn(shape, gen, f64());
  auto diag = (0.4 * at::randn(at::IntArrayRef(shape).slice(0, shape.size() - 1), gen, f64())).exp();
  return 0.6 * a.tril(-1) + at::diag_embed(diag);
}

inline at::Tensor random_tensor(std::vector<int64_t> shape, uint64_t seed, double scale = 1.0) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return scale * at::randn(shape, gen, f64());
}

// log N(x; m, S) for S of shape (..., n, n), all broadcast.
inline at::Tensor dense_log_density(const at::Tensor& x, const at::Tensor& m, const at::Tensor& cov) {
  auto d = (x - m).unsqueeze(-1);
  auto inv = at::inverse(cov);
  auto quad = at::matmul(d.mT(), at::matmul(inv, d)).squeeze(-1).squeeze(-1);
  const double n = static_cast<double>(cov.size(-1));
  return -0.5 * (quad + at::logdet(cov) + n * std::log(2 * M_PI));
}

inline at::Tensor dense_entropy(const at::Tensor& cov) {
  const double n = static_cast<double>(cov.size(-1));
  return 0.5 * (n * (1 + std::log(2 * M_PI)) + at::logdet(cov));
}

inline at::Tensor dense_kl(const at::Tensor& mp, const at::Tensor& sp, const at::Tensor& mq, const at::Tensor& sq) {
  auto inv_q = at::inverse(sq);
  auto d = (mq - mp).unsqueeze(-1);
  auto trace = at::matmul(inv_q, sp).diagonal(0, -2, -1).sum(-1);
  auto quad = at::matmul(d.mT(), at::matmul(inv_q, d)).squeeze(-1).squeeze(-1);
  const double n = static_cast<double>(sp.size(-1));
  return 0.5 * (trace + quad - n + at::logdet(sq) - at::logdet(sp));
}

// Draws xs of shape (n_draws, n): every sample mean and every sample covariance entry within
// kMonteCarloZ standard errors of `loc` and `cov` (the entry's se: sqrt((S_ii S_jj + S_ij^2) / n_draws)).
// Fails at the first entry off.
inline ::testing::AssertionResult sample_moments_match(const at::Tensor& xs, const at::Tensor& loc,
                                                       const at::Tensor& cov) {
  const int64_t n_draws = xs.size(0);
  auto mean = xs.mean(0);
  auto centred = xs - mean;
  auto sample_cov = at::matmul(centred.t(), centred) / (n_draws - 1);
  for (int64_t i = 0; i < cov.size(0); ++i) {
    const double se_mean = std::sqrt(cov[i][i].item<double>() / n_draws);
    auto mean_ok = is_near(mean[i].item<double>(), loc[i].item<double>(), kMonteCarloZ * se_mean);
    if (!mean_ok) return mean_ok << " (sample mean " << i << ")";
    for (int64_t j = 0; j < cov.size(0); ++j) {
      const double s_ij = cov[i][j].item<double>();
      const double se_cov = std::sqrt((cov[i][i].item<double>() * cov[j][j].item<double>() + s_ij * s_ij) / n_draws);
      auto cov_ok = is_near(sample_cov[i][j].item<double>(), s_ij, kMonteCarloZ * se_cov);
      if (!cov_ok) return cov_ok << " (sample covariance " << i << "," << j << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace amortize::testing
