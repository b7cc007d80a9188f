#include "amortize/dist/multivariate/multivariate_normal.hpp"

#include "amortize/dist/multivariate/batched_linear_algebra.hpp"
#include "amortize/dist/multivariate/matrix_arguments.hpp"

#include <cmath>
#include <tuple>

namespace amortize::dist {
namespace {
constexpr double kLog2Pi = 1.83787706640934548356;
const char* const kName = "MultivariateNormal";
}  // namespace

MultivariateNormal::MultivariateNormal(Validated, Tensor loc, Tensor scale_tril)
    : loc_(std::move(loc)), scale_tril_(std::move(scale_tril)) {
  set_shapes(to_shape(loc_.sizes().slice(0, loc_.dim() - 1)), {loc_.size(-1)});
}

MultivariateNormal::MultivariateNormal(TensorArg loc, const Tensor& scale_tril) {
  require_square_matrix(kName, "scale_tril", scale_tril);
  std::tie(loc_, scale_tril_) =
      broadcast_loc_and_matrix(kName, loc, scale_tril.to(floating_options({loc, scale_tril})), "scale_tril");
  require_finite(kName, "loc", loc_);
  require_lower_triangular(kName, "scale_tril", scale_tril);
  require_positive(kName, "scale_tril diagonal", scale_tril.diagonal(0, -2, -1));
  set_shapes(to_shape(loc_.sizes().slice(0, loc_.dim() - 1)), {loc_.size(-1)});
}

MultivariateNormal MultivariateNormal::from_covariance_matrix(TensorArg loc, const Tensor& covariance_matrix) {
  require_square_matrix(kName, "covariance_matrix", covariance_matrix);
  Tensor cov = covariance_matrix.to(floating_options({loc, covariance_matrix}));
  require_symmetric(kName, "covariance_matrix", cov);
  Tensor factor = cholesky_or_throw(kName, "covariance_matrix", cov);
  auto [l, s] = broadcast_loc_and_matrix(kName, loc, factor, "covariance_matrix");
  require_finite(kName, "loc", l);
  return MultivariateNormal(Validated{}, l, s);
}

MultivariateNormal MultivariateNormal::from_precision_matrix(TensorArg loc, const Tensor& precision_matrix) {
  require_square_matrix(kName, "precision_matrix", precision_matrix);
  Tensor precision = precision_matrix.to(floating_options({loc, precision_matrix}));
  require_symmetric(kName, "precision_matrix", precision);
  // With J the reversal permutation, chol(J P J) = F gives P = U U^T for the upper-triangular
  // U = J F J, so Sigma = P^{-1} = U^{-T} U^{-1} and its lower factor is U^{-T} = (U^T)^{-1}.
  Tensor flipped_factor = cholesky_or_throw(kName, "precision_matrix", precision.flip({-2, -1}));
  Tensor upper_t = flipped_factor.flip({-2, -1}).mT();  // U^T, lower triangular
  Tensor eye = at::eye(precision.size(-1), precision.options()).expand(upper_t.sizes());
  Tensor factor = at::linalg_solve_triangular(upper_t, eye, /*upper=*/false);
  auto [l, s] = broadcast_loc_and_matrix(kName, loc, factor, "precision_matrix");
  require_finite(kName, "loc", l);
  return MultivariateNormal(Validated{}, l, s);
}

Tensor MultivariateNormal::covariance_matrix() const { return at::matmul(scale_tril_, scale_tril_.mT()); }

Tensor MultivariateNormal::precision_matrix() const { return at::cholesky_inverse(scale_tril_); }

Tensor MultivariateNormal::log_det_covariance() const { return 2 * scale_tril_.diagonal(0, -2, -1).log().sum(-1); }

Tensor MultivariateNormal::mahalanobis_squared(const Tensor& diff) const {
  return solve_lower_over_samples(scale_tril_, diff).square().sum(-1);
}

Tensor MultivariateNormal::log_prob(const Tensor& value) const {
  validate_sample(value);
  const double n = static_cast<double>(dimension());
  return -0.5 * (n * kLog2Pi + mahalanobis_squared(value - loc_) + log_det_covariance());
}

Tensor MultivariateNormal::rsample(const Shape& sample_shape, at::Generator gen) const {
  auto eps = at::randn(extended_shape(sample_shape), gen, options());
  return loc_ + matvec_over_samples(scale_tril_, eps);
}

Tensor MultivariateNormal::variance() const { return scale_tril_.square().sum(-1); }

Tensor MultivariateNormal::entropy() const {
  const double n = static_cast<double>(dimension());
  return 0.5 * (n * (1.0 + kLog2Pi) + log_det_covariance());
}

DistPtr MultivariateNormal::expand(const Shape& batch_shape) const {
  check_expand(batch_shape);
  Shape vec = batch_shape;
  vec.push_back(dimension());
  Shape mat = vec;
  mat.push_back(dimension());
  return std::shared_ptr<MultivariateNormal>(
      new MultivariateNormal(Validated{}, loc_.expand(vec), scale_tril_.expand(mat)));
}

}  // namespace amortize::dist
