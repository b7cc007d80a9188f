#include "amortize/pavi/element_affine.hpp"

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace amortize::pavi {

std::pair<Tensor, Tensor> element_affine(const Tensor& u, const Tensor& rows, const Tensor& parents,
                                         const ElementAffineShape& s) {
  const int64_t d = s.dim;
  if (u.size(-1) != d || rows.size(-1) != s.width() || (s.parent_dim > 0 && parents.size(-1) != s.parent_dim)) {
    throw std::invalid_argument("element_affine: expected u [..., " + std::to_string(d) + "], rows [..., " +
                                std::to_string(s.width()) + "] and parents [..., " + std::to_string(s.parent_dim) +
                                "], got " + dist::shape_string(u.sizes()) + ", " + dist::shape_string(rows.sizes()));
  }
  const double offset = std::log(std::expm1(s.init_scale));
  Tensor scale = at::softplus(rows.narrow(-1, d, d) + offset);
  Tensor z = rows.narrow(-1, 0, d) + scale * u;
  int64_t at_col = 2 * d;
  if (s.lower_triangular && d > 1) {
    std::vector<Tensor> extra{at::zeros_like(z.select(-1, 0))};
    for (int64_t i = 1; i < d; ++i) {
      Tensor l = rows.narrow(-1, at_col, i);  // row i's entries below the diagonal
      extra.push_back((l * u.narrow(-1, 0, i)).sum(-1));
      at_col += i;
    }
    z = z + at::stack(extra, -1);
  }
  if (s.parent_dim > 0) {
    auto w_shape = rows.sizes().vec();
    w_shape.back() = d;
    w_shape.push_back(s.parent_dim);
    Tensor w = rows.narrow(-1, at_col, d * s.parent_dim).reshape(w_shape);
    z = z + at::matmul(w, parents.unsqueeze(-1)).squeeze(-1);
  }
  Tensor log_det = scale.log().sum(-1);
  auto batch = z.sizes().vec();
  batch.pop_back();
  return {z, log_det.expand(batch)};
}

}  // namespace amortize::pavi
