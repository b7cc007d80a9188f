// Applying one matrix per batch element to many vectors: a multivariate distribution with
// batch shape B holds matrices of shape (B..., m, k) and is handed vectors of shape
// (S..., B..., k), where S is a sample shape. These helpers gather the sample dimensions into
// the rows of one matrix product per batch element, so the matrices are never copied S times.
#pragma once
#include "amortize/dist/tensor_args.hpp"

namespace amortize::dist {

// matrix @ v for every vector v: (B..., m, k) and (S..., B..., k) -> (S..., B..., m).
// The vectors' batch dimensions may broadcast against B.
Tensor matvec_over_samples(const Tensor& matrix, const Tensor& vectors);

// L^{-1} v for a lower-triangular L with non-zero diagonal: (B..., n, n), (S..., B..., n) -> (S..., B..., n).
Tensor solve_lower_over_samples(const Tensor& lower, const Tensor& vectors);

}  // namespace amortize::dist
