// Maps a vector of length K(K+1)/2 onto K x K lower-triangular matrices with a positive
// diagonal (Cholesky factors of covariance matrices). As in NumPyro, the first K(K-1)/2 entries
// fill the strict lower triangle row by row and the last K are the log of the diagonal.
#pragma once
#include "amortize/dist/transforms/transform.hpp"

namespace amortize::dist {

class LowerCholeskyTransform : public Transform {
 public:
  std::string name() const override { return "lower_cholesky"; }
  // The diagonal is kept at least the smallest normal number where exp would underflow.
  Tensor forward(const Tensor& x) const override;
  Tensor inverse(const Tensor& y) const override;
  // The sum of the last K entries of x (exp on the diagonal; the rest is the identity).
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor& y) const override;
  Constraint domain() const override { return constraints::real_vector(); }
  Constraint codomain() const override { return constraints::lower_cholesky(); }
  // (..., K(K+1)/2) -> (..., K, K) and back; throws DistributionError for other lengths.
  Shape forward_shape(const Shape& shape) const override;
  Shape inverse_shape(const Shape& shape) const override;

  // K for a vector of length K(K+1)/2.
  static int64_t matrix_size(int64_t vector_length);
};

}  // namespace amortize::dist
