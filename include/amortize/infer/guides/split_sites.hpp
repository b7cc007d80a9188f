// Splits the last dimension of a joint tensor (..., D) into per-site pieces, reshaped for each
// site, in one autograd node: guides keep their parameters (and joint draws) in a few flat
// tensors, and a narrow + reshape per site would add two operations forward and a
// zero-filled full-size gradient per site backward, which a small model's step feels.
#pragma once
#include "amortize/dist/tensor_args.hpp"

#include <vector>

namespace amortize::infer {

// Piece i holds columns [sum of sizes before i, + sizes[i]) of every row of `joint`, reshaped
// to shapes[i] (which must hold rows * sizes[i] elements, rows = joint.numel() / D). The
// pieces are copies; gradients flow back to `joint` (twice differentiable).
std::vector<Tensor> split_sites(const Tensor& joint, const std::vector<int64_t>& sizes,
                                const std::vector<Shape>& shapes);

}  // namespace amortize::infer
