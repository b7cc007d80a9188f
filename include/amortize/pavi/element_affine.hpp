// The non-amortized flow baseline's layer: every plate element has its own affine flow,
// z = loc_g + L_g u + W_g p, with p its parents' standardised base draws, L_g lower triangular
// (diagonal softplus(.) > 0, strictly-lower entries optional). Nothing is shared across
// elements: the element's parameters are one row of a [plate size, width] table (read through a
// sparse lookup, like PAVI-F's encodings), so the parameter count grows with the plate.
#pragma once
#include "amortize/dist/tensor_args.hpp"

#include <utility>

namespace amortize::pavi {

struct ElementAffineShape {
  int64_t dim = 1;
  int64_t parent_dim = 0;
  bool lower_triangular = false;
  double init_scale = 0.1;  // scale when the row's scale entries are 0
  // Row layout: [loc (dim) | scale (dim) | strictly lower (dim (dim - 1) / 2, optional) | W (dim x parent_dim)].
  int64_t width() const { return 2 * dim + (lower_triangular ? dim * (dim - 1) / 2 : 0) + dim * parent_dim; }
};

// (z, log|det dz/du|) for base draws u [..., dim], rows [..., width] and parents [..., parent_dim]
// (undefined when parent_dim == 0), batch shapes broadcast.
std::pair<Tensor, Tensor> element_affine(const Tensor& u, const Tensor& rows, const Tensor& parents,
                                         const ElementAffineShape& shape);

}  // namespace amortize::pavi
