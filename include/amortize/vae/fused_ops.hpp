// Fused elementwise operations for the VAE's hot loop. At batch 256 the pixel and hidden
// tensors are as large as the network's weights, so every elementwise pass over them costs a
// visible fraction of the matrix products; these do each job in one pass (float32, contiguous,
// CPU: hand-vectorised loops compiled for AVX2 and baseline x86-64, chosen at run time) and
// fall back to the equivalent ATen expression for any other dtype, device or layout.
#pragma once
#include "amortize/dist/tensor_args.hpp"

namespace amortize::vae {

// softplus(a) = log(1 + exp(a)) as one autograd node that keeps sigmoid(a), its derivative,
// from the same pass (the backward is one multiplication).
Tensor softplus(const Tensor& a);

// softplus(x W^T + b), a hidden layer, as one autograd node around one matrix product: x of shape
// (..., in), weight (out, in), bias (out,). Throws std::invalid_argument if the shapes do not fit.
Tensor linear_softplus(const Tensor& x, const Tensor& weight, const Tensor& bias);

// Bernoulli log-density of x given logits, summed over the last dimension:
//   sum_j x_j l_j - max(l_j, 0) - log1p(exp(-|l_j|)),
// with gradient x - sigmoid(l) wrt the logits (x gets none). x broadcasts against the logits
// (typically (batch, pixels) against (particles, batch, pixels)); returns the logits' leading shape.
Tensor bernoulli_logits_log_prob(const Tensor& logits, const Tensor& x);

}  // namespace amortize::vae
