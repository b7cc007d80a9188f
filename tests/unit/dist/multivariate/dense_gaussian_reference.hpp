// Independent reference computations for the multivariate-normal tests: densities, entropies
// and KL divergences from an explicit dense covariance, its LU inverse and log-determinant
// (no Cholesky or triangular solve), plus random well-conditioned parameters.
#pragma once
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

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

}  // namespace amortize::testing
