#include "amortize/dist/transforms/lower_cholesky_transform.hpp"

#include "float_limits.hpp"

#include <cmath>
#include <vector>

namespace amortize::dist {
namespace {
// For each of the K*K row-major matrix entries, its position in [strict lower triangle (row by
// row), diagonal, one zero].
Tensor matrix_from_vector_index(int64_t k, const at::Device& device) {
  const int64_t strict = k * (k - 1) / 2;
  std::vector<int64_t> index;
  index.reserve(k * k);
  for (int64_t r = 0; r < k; ++r) {
    for (int64_t c = 0; c < k; ++c) {
      index.push_back(r > c ? r * (r - 1) / 2 + c : (r == c ? strict + r : strict + k));
    }
  }
  return at::tensor(index, at::kLong).to(device);
}

// Row-major flat positions of the strict lower triangle, row by row.
Tensor strict_lower_positions(int64_t k, const at::Device& device) {
  std::vector<int64_t> index;
  for (int64_t r = 0; r < k; ++r) {
    for (int64_t c = 0; c < r; ++c) index.push_back(r * k + c);
  }
  return at::tensor(index, at::kLong).to(device);
}

Shape leading(const Tensor& t, int64_t drop) { return Shape(t.sizes().begin(), t.sizes().end() - drop); }
}  // namespace

int64_t LowerCholeskyTransform::matrix_size(int64_t vector_length) {
  const auto k = static_cast<int64_t>(std::llround((std::sqrt(1.0 + 8.0 * vector_length) - 1.0) / 2.0));
  require(vector_length >= 0 && k * (k + 1) / 2 == vector_length,
          "LowerCholeskyTransform: vector length " + std::to_string(vector_length) + " is not K(K+1)/2 for any K");
  return k;
}

Tensor LowerCholeskyTransform::forward(const Tensor& x) const {
  require(x.dim() >= 1, "LowerCholeskyTransform: x must have at least one dimension");
  const int64_t k = matrix_size(x.size(-1));
  const int64_t strict = k * (k - 1) / 2;
  Shape batch = leading(x, 1);
  Shape one = batch;
  one.push_back(1);
  auto values =
      at::cat({x.narrow(-1, 0, strict), x.narrow(-1, strict, k).exp().clamp_min(float_limits(x.scalar_type()).tiny),
               at::zeros(one, x.options())},
              -1);
  Shape out = batch;
  out.push_back(k);
  out.push_back(k);
  return values.index_select(values.dim() - 1, matrix_from_vector_index(k, x.device())).view(out);
}

Tensor LowerCholeskyTransform::inverse(const Tensor& y) const {
  (void)inverse_shape(to_shape(y.sizes()));  // validates the shape
  const int64_t k = y.size(-1);
  Shape flat = leading(y, 2);
  flat.push_back(k * k);
  auto strict =
      y.reshape(flat).index_select(static_cast<int64_t>(flat.size()) - 1, strict_lower_positions(k, y.device()));
  return at::cat({strict, y.diagonal(0, -2, -1).log()}, -1);
}

Tensor LowerCholeskyTransform::log_abs_det_jacobian(const Tensor& x, const Tensor&) const {
  const int64_t k = matrix_size(x.size(-1));
  return x.narrow(-1, k * (k - 1) / 2, k).sum(-1);
}

Shape LowerCholeskyTransform::forward_shape(const Shape& shape) const {
  require(!shape.empty(), "LowerCholeskyTransform: x must have at least one dimension");
  const int64_t k = matrix_size(shape.back());
  Shape out(shape.begin(), shape.end() - 1);
  out.push_back(k);
  out.push_back(k);
  return out;
}

Shape LowerCholeskyTransform::inverse_shape(const Shape& shape) const {
  require(shape.size() >= 2 && shape[shape.size() - 1] == shape[shape.size() - 2],
          "LowerCholeskyTransform: y must end in a square matrix, got shape " + shape_string(shape));
  const int64_t k = shape.back();
  Shape out(shape.begin(), shape.end() - 2);
  out.push_back(k * (k + 1) / 2);
  return out;
}

}  // namespace amortize::dist
