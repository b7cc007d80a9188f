#include "amortize/dist/multivariate/low_rank_multivariate_normal.hpp"

#include "amortize/dist/multivariate/batched_linear_algebra.hpp"
#include "amortize/dist/multivariate/matrix_arguments.hpp"

namespace amortize::dist {
namespace {
constexpr double kLog2Pi = 1.83787706640934548356;
const char* const kName = "LowRankMultivariateNormal";

// Cholesky factor of I_r + W^T D^{-1} W.
Tensor capacitance_tril_of(const Tensor& cov_factor, const Tensor& cov_diag) {
  Tensor scaled = cov_factor / cov_diag.sqrt().unsqueeze(-1);  // D^{-1/2} W
  Tensor capacitance = at::matmul(scaled.mT(), scaled);
  capacitance.diagonal(0, -2, -1).add_(1);
  return at::linalg_cholesky(capacitance);
}
}  // namespace

LowRankMultivariateNormal::LowRankMultivariateNormal(Validated, Tensor loc, Tensor cov_factor, Tensor cov_diag,
                                                     Tensor capacitance_tril)
    : loc_(std::move(loc)),
      cov_factor_(std::move(cov_factor)),
      cov_diag_(std::move(cov_diag)),
      capacitance_tril_(std::move(capacitance_tril)) {
  set_shapes(to_shape(loc_.sizes().slice(0, loc_.dim() - 1)), {loc_.size(-1)});
}

LowRankMultivariateNormal::LowRankMultivariateNormal(TensorArg loc, const Tensor& cov_factor, const Tensor& cov_diag) {
  if (cov_factor.dim() < 2 || cov_factor.size(-2) < 1) {
    throw DistributionError(std::string(kName) + ": cov_factor must have shape (..., n, r) with n >= 1, got " +
                            shape_string(cov_factor.sizes()));
  }
  if (cov_diag.dim() < 1) {
    throw DistributionError(std::string(kName) + ": cov_diag must have shape (..., n), got " +
                            shape_string(cov_diag.sizes()));
  }
  const auto options = floating_options({loc, cov_factor, cov_diag});
  const int64_t n = cov_factor.size(-2);
  const int64_t r = cov_factor.size(-1);
  Tensor l = loc_as_vector(loc, n, options);
  Tensor w = cov_factor.to(options);
  Tensor d = cov_diag.to(options);
  if (l.size(-1) != n)
    throw_shape_mismatch(kName, "loc", l, "cov_factor", w, "loc (..., n) and cov_factor (..., n, r)");
  if (d.size(-1) != n) {
    throw_shape_mismatch(kName, "cov_diag", d, "cov_factor", w, "cov_diag (..., n) and cov_factor (..., n, r)");
  }
  Shape batch = broadcast_batch_shape(kName, {{"loc", l, 1}, {"cov_factor", w, 2}, {"cov_diag", d, 1}});
  require_finite(kName, "loc", l);
  require_finite(kName, "cov_factor", w);
  require_positive(kName, "cov_diag", d);
  Shape vec = batch;
  vec.push_back(n);
  Shape mat = batch;
  mat.push_back(n);
  mat.push_back(r);
  loc_ = l.expand(vec);
  cov_factor_ = w.expand(mat);
  cov_diag_ = d.expand(vec);
  // The capacitance depends only on W and D: factor it at their own batch shape, then expand.
  Shape cap_batch = broadcast_batch_shape(kName, {{"cov_factor", w, 2}, {"cov_diag", d, 1}});
  Shape cap_mat = cap_batch;
  cap_mat.push_back(n);
  cap_mat.push_back(r);
  Shape cap_vec = cap_batch;
  cap_vec.push_back(n);
  Tensor cap = capacitance_tril_of(w.expand(cap_mat), d.expand(cap_vec));
  Shape cap_out = batch;
  cap_out.push_back(r);
  cap_out.push_back(r);
  capacitance_tril_ = cap.expand(cap_out);
  set_shapes(batch, {n});
}

Tensor LowRankMultivariateNormal::covariance_matrix() const {
  return at::matmul(cov_factor_, cov_factor_.mT()) + at::diag_embed(cov_diag_);
}

Tensor LowRankMultivariateNormal::precision_matrix() const {
  // Woodbury: D^{-1} - D^{-1} W C^{-1} W^T D^{-1} = D^{-1} - A^T A with A = L_C^{-1} W^T D^{-1}.
  Tensor wt_dinv = cov_factor_.mT() / cov_diag_.unsqueeze(-2);
  Tensor a = at::linalg_solve_triangular(capacitance_tril_, wt_dinv, /*upper=*/false);
  return at::diag_embed(cov_diag_.reciprocal()) - at::matmul(a.mT(), a);
}

Tensor LowRankMultivariateNormal::scale_tril() const { return at::linalg_cholesky(covariance_matrix()); }

Tensor LowRankMultivariateNormal::log_det_covariance() const {
  // Matrix determinant lemma: det(W W^T + D) = det(I + W^T D^{-1} W) det(D).
  return 2 * capacitance_tril_.diagonal(0, -2, -1).log().sum(-1) + cov_diag_.log().sum(-1);
}

Tensor LowRankMultivariateNormal::mahalanobis_squared(const Tensor& diff) const {
  // Woodbury: x^T D^{-1} x - |L_C^{-1} W^T D^{-1} x|^2.
  Tensor scaled = diff / cov_diag_;
  Tensor projected = matvec_over_samples(cov_factor_.mT(), scaled);
  Tensor whitened = solve_lower_over_samples(capacitance_tril_, projected);
  return (diff * scaled).sum(-1) - whitened.square().sum(-1);
}

Tensor LowRankMultivariateNormal::log_prob(const Tensor& value) const {
  validate_sample(value);
  const double n = static_cast<double>(dimension());
  return -0.5 * (n * kLog2Pi + mahalanobis_squared(value - loc_) + log_det_covariance());
}

Tensor LowRankMultivariateNormal::rsample(const Shape& sample_shape, at::Generator gen) const {
  Shape factor_shape = extended_shape(sample_shape);
  factor_shape.back() = rank();
  auto eps_factor = at::randn(factor_shape, gen, options());
  auto eps_diag = at::randn(extended_shape(sample_shape), gen, options());
  return loc_ + matvec_over_samples(cov_factor_, eps_factor) + cov_diag_.sqrt() * eps_diag;
}

Tensor LowRankMultivariateNormal::variance() const { return cov_factor_.square().sum(-1) + cov_diag_; }

Tensor LowRankMultivariateNormal::entropy() const {
  const double n = static_cast<double>(dimension());
  return 0.5 * (n * (1.0 + kLog2Pi) + log_det_covariance());
}

DistPtr LowRankMultivariateNormal::expand(const Shape& batch_shape) const {
  check_expand(batch_shape);
  auto with = [&](std::initializer_list<int64_t> tail) {
    Shape s = batch_shape;
    s.insert(s.end(), tail);
    return s;
  };
  const int64_t n = dimension();
  const int64_t r = rank();
  return std::shared_ptr<LowRankMultivariateNormal>(
      new LowRankMultivariateNormal(Validated{}, loc_.expand(with({n})), cov_factor_.expand(with({n, r})),
                                    cov_diag_.expand(with({n})), capacitance_tril_.expand(with({r, r}))));
}

}  // namespace amortize::dist
