// LowRankMultivariateNormal(loc, cov_factor, cov_diag): the Gaussian on R^n with covariance
// W W^T + diag(D), for a factor W (..., n, r) and a positive diagonal D (..., n). Its density
// and entropy cost O(n r^2) through the r x r capacitance matrix I + W^T D^{-1} W (Woodbury
// identity and matrix determinant lemma), so it scales to large n when r is small.
#pragma once
#include "amortize/dist/distribution.hpp"

namespace amortize::dist {

class LowRankMultivariateNormal : public DistributionBase<LowRankMultivariateNormal> {
 public:
  // loc may be a number, broadcast to every coordinate.
  LowRankMultivariateNormal(TensorArg loc, const Tensor& cov_factor, const Tensor& cov_diag);

  std::string type_name() const override { return "LowRankMultivariateNormal"; }
  at::TensorOptions options() const override { return loc_.options(); }
  int64_t dimension() const { return loc_.size(-1); }
  int64_t rank() const { return cov_factor_.size(-1); }
  // All broadcast to the full batch shape: (batch..., n), (batch..., n, r), (batch..., n).
  const Tensor& loc() const { return loc_; }
  const Tensor& cov_factor() const { return cov_factor_; }
  const Tensor& cov_diag() const { return cov_diag_; }
  // Lower Cholesky factor of the capacitance matrix I_r + W^T D^{-1} W, (batch..., r, r).
  const Tensor& capacitance_tril() const { return capacitance_tril_; }

  // Dense n x n matrices, for conversions and small n.
  Tensor covariance_matrix() const;
  Tensor precision_matrix() const;
  Tensor scale_tril() const;
  // log det of the covariance, shape batch, in O(n r^2).
  Tensor log_det_covariance() const;
  // diff^T Sigma^{-1} diff for diff of shape (S..., batch..., n); result (S..., batch...).
  Tensor mahalanobis_squared(const Tensor& diff) const;

  Tensor log_prob(const Tensor& value) const override;
  bool has_rsample() const override { return true; }
  Tensor rsample(const Shape& sample_shape = {}, at::Generator gen = {}) const override;
  Tensor mean() const override { return loc_; }
  Tensor variance() const override;
  Tensor entropy() const override;
  Constraint support() const override { return constraints::real_vector(); }
  DistPtr expand(const Shape& batch_shape) const override;

 private:
  struct Validated {};
  LowRankMultivariateNormal(Validated, Tensor loc, Tensor cov_factor, Tensor cov_diag, Tensor capacitance_tril);

  Tensor loc_;
  Tensor cov_factor_;
  Tensor cov_diag_;
  Tensor capacitance_tril_;
};

}  // namespace amortize::dist
