#include "amortize/dist/multivariate/batched_linear_algebra.hpp"

#include <ATen/ExpandUtils.h>

#include <functional>

namespace amortize::dist {
namespace {
// Broadcasts the vectors against the matrix batch, moves the sample dimensions into the rows
// of a (B..., N, k) matrix, applies `rows_op` (which returns (B..., N, m)) and restores the
// sample dimensions in front.
Tensor over_samples(const Tensor& matrix, const Tensor& vectors,
                    const std::function<Tensor(const Tensor& mat, const Tensor& rows)>& rows_op) {
  const int64_t matrix_batch_dims = matrix.dim() - 2;
  auto vector_batch = vectors.sizes().slice(0, vectors.dim() - 1);
  auto matrix_batch = matrix.sizes().slice(0, matrix_batch_dims);
  Shape full = to_shape(at::infer_size(vector_batch, matrix_batch));
  const int64_t sample_dims = static_cast<int64_t>(full.size()) - matrix_batch_dims;
  Shape batch(full.begin() + sample_dims, full.end());
  Shape sample(full.begin(), full.begin() + sample_dims);

  Shape mat_shape = batch;
  mat_shape.push_back(matrix.size(-2));
  mat_shape.push_back(matrix.size(-1));
  Shape vec_shape = full;
  vec_shape.push_back(vectors.size(-1));
  Tensor mat = matrix.expand(mat_shape);
  Tensor vec = vectors.expand(vec_shape);

  int64_t n_rows = 1;
  for (auto s : sample) n_rows *= s;
  Shape flat = batch;
  flat.insert(flat.begin(), n_rows);
  flat.push_back(vectors.size(-1));
  Tensor rows = vec.reshape(flat).movedim(0, -2);  // (B..., N, k)
  Tensor out = rows_op(mat, rows).movedim(-2, 0);  // (N, B..., m)
  Shape out_shape = full;
  out_shape.push_back(out.size(-1));
  return out.reshape(out_shape);
}
}  // namespace

Tensor matvec_over_samples(const Tensor& matrix, const Tensor& vectors) {
  return over_samples(matrix, vectors,
                      [](const Tensor& mat, const Tensor& rows) { return at::matmul(rows, mat.mT()); });
}

Tensor solve_lower_over_samples(const Tensor& lower, const Tensor& vectors) {
  // Row form: X L^T = V gives the rows of X as (L^{-1} v)^T.
  return over_samples(lower, vectors, [](const Tensor& mat, const Tensor& rows) {
    return at::linalg_solve_triangular(mat.mT(), rows, /*upper=*/true, /*left=*/false);
  });
}

}  // namespace amortize::dist
