// MultivariateNormal(loc, scale_tril): the Gaussian on R^n with mean `loc` (..., n) and
// covariance L L^T given by its lower Cholesky factor L = `scale_tril` (..., n, n). The batch
// shape is the broadcast of loc's and scale_tril's leading dimensions; the event shape is (n).
// Factories build it from a covariance or a precision matrix by a Cholesky decomposition.
#pragma once
#include "amortize/dist/distribution.hpp"

namespace amortize::dist {

class MultivariateNormal : public DistributionBase<MultivariateNormal> {
 public:
  // loc may be a number, broadcast to every coordinate.
  MultivariateNormal(TensorArg loc, const Tensor& scale_tril);
  static MultivariateNormal from_covariance_matrix(TensorArg loc, const Tensor& covariance_matrix);
  static MultivariateNormal from_precision_matrix(TensorArg loc, const Tensor& precision_matrix);

  std::string type_name() const override { return "MultivariateNormal"; }
  at::TensorOptions options() const override { return loc_.options(); }
  int64_t dimension() const { return loc_.size(-1); }
  // Both broadcast to the full batch shape: (batch..., n) and (batch..., n, n).
  const Tensor& loc() const { return loc_; }
  const Tensor& scale_tril() const { return scale_tril_; }
  Tensor covariance_matrix() const;
  Tensor precision_matrix() const;
  // log det of the covariance, shape batch.
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
  // Parameters already broadcast and checked (expand, factories).
  MultivariateNormal(Validated, Tensor loc, Tensor scale_tril);

  Tensor loc_;
  Tensor scale_tril_;
};

}  // namespace amortize::dist
