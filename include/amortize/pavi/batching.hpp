// Batches of plate elements for stochastic PAVI training: k distinct indices out of n, uniform
// over subsets, in O(k) time and memory (Floyd's algorithm), so that drawing a batch of 1000
// groups out of 5e7 does not build a permutation of 5e7 indices every step.
#pragma once
#include "amortize/dist/tensor_args.hpp"

#include <ATen/core/Generator.h>

namespace amortize::pavi {

// k distinct indices in [0, n), int64, in random order; k == n gives arange(n).
Tensor sample_without_replacement(int64_t n, int64_t k, at::Generator& generator);

}  // namespace amortize::pavi
