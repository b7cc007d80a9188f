// Closed-form KL divergences between the dense and low-rank multivariate normals:
// KL(p || q) = 1/2 [tr(Sq^{-1} Sp) + (mq - mp)^T Sq^{-1} (mq - mp) - n + log det Sq - log det Sp].
// Sp enters only through a factor F with Sp = F F^T, given as dense columns plus, for the
// low-rank family, a diagonal part; with a low-rank q everything costs O(n r^2).
#include "amortize/dist/kl/kl_divergence.hpp"
#include "amortize/dist/multivariate/low_rank_multivariate_normal.hpp"
#include "amortize/dist/multivariate/multivariate_normal.hpp"

#include <ATen/ExpandUtils.h>

namespace amortize::dist {
namespace {
// Sp = columns columns^T + diag(diagonal^2); `diagonal` is undefined when there is no such part.
struct CovarianceFactor {
  Tensor columns;   // (batch..., n, k)
  Tensor diagonal;  // (batch..., n) or undefined
};

CovarianceFactor factor_of(const MultivariateNormal& p) { return {p.scale_tril(), Tensor()}; }
CovarianceFactor factor_of(const LowRankMultivariateNormal& p) { return {p.cov_factor(), p.cov_diag().sqrt()}; }

// tr(Sq^{-1} F F^T) = |Lq^{-1} F|_F^2.
Tensor trace_of_inverse_times(const MultivariateNormal& q, const CovarianceFactor& f) {
  const Tensor& lq = q.scale_tril();
  Tensor trace = at::linalg_solve_triangular(lq, f.columns, /*upper=*/false).square().sum({-2, -1});
  if (f.diagonal.defined()) {
    Tensor eye = at::eye(q.dimension(), lq.options()).expand(lq.sizes());
    Tensor lq_inverse = at::linalg_solve_triangular(lq, eye, /*upper=*/false);
    trace = trace + (lq_inverse.square() * f.diagonal.square().unsqueeze(-2)).sum({-2, -1});
  }
  return trace;
}

// Woodbury: tr(Sq^{-1} F F^T) = |Dq^{-1/2} F|^2 - |Lc^{-1} Wq^T Dq^{-1} F|^2, never forming n x n matrices.
Tensor trace_of_inverse_times(const LowRankMultivariateNormal& q, const CovarianceFactor& f) {
  const Tensor& dq = q.cov_diag();
  Tensor wt_dinv = q.cov_factor().mT() / dq.unsqueeze(-2);  // (batch..., r, n)
  const Tensor& lc = q.capacitance_tril();
  Tensor trace =
      (f.columns.square() / dq.unsqueeze(-1)).sum({-2, -1}) -
      at::linalg_solve_triangular(lc, at::matmul(wt_dinv, f.columns), /*upper=*/false).square().sum({-2, -1});
  if (f.diagonal.defined()) {
    Tensor projected = wt_dinv * f.diagonal.unsqueeze(-2);  // Wq^T Dq^{-1} diag(s), (batch..., r, n)
    trace = trace + (f.diagonal.square() / dq).sum(-1) -
            at::linalg_solve_triangular(lc, projected, /*upper=*/false).square().sum({-2, -1});
  }
  return trace;
}

template <class P, class Q>
Tensor kl_gaussians(const Distribution& p_dist, const Distribution& q_dist) {
  Shape batch;
  try {
    batch = to_shape(at::infer_size(p_dist.batch_shape(), q_dist.batch_shape()));
  } catch (const c10::Error&) {
    throw DistributionError("kl_divergence: batch shapes " + shape_string(p_dist.batch_shape()) + " of " +
                            p_dist.type_name() + " and " + shape_string(q_dist.batch_shape()) + " of " +
                            q_dist.type_name() + " do not broadcast");
  }
  auto p_ptr = p_dist.expand(batch);
  auto q_ptr = q_dist.expand(batch);
  const auto& p = dynamic_cast<const P&>(*p_ptr);
  const auto& q = dynamic_cast<const Q&>(*q_ptr);
  const double n = static_cast<double>(p.dimension());
  Tensor trace = trace_of_inverse_times(q, factor_of(p));
  Tensor mahalanobis = q.mahalanobis_squared(q.loc() - p.loc());
  return 0.5 * (trace + mahalanobis - n + q.log_det_covariance() - p.log_det_covariance());
}
}  // namespace

namespace kl_detail {
void register_multivariate_family(const std::function<void(std::string, std::string, KLFunction)>& add) {
  using Dense = MultivariateNormal;
  using LowRank = LowRankMultivariateNormal;
  add("MultivariateNormal", "MultivariateNormal", kl_gaussians<Dense, Dense>);
  add("LowRankMultivariateNormal", "MultivariateNormal", kl_gaussians<LowRank, Dense>);
  add("MultivariateNormal", "LowRankMultivariateNormal", kl_gaussians<Dense, LowRank>);
  add("LowRankMultivariateNormal", "LowRankMultivariateNormal", kl_gaussians<LowRank, LowRank>);
}
}  // namespace kl_detail

}  // namespace amortize::dist
