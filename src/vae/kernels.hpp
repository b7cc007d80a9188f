// Raw float32 kernels of the VAE's hot loop, on contiguous arrays: softplus with its derivative,
// the Bernoulli-logits log-density with its gradient, and Adam's update, each in one pass.
// No LibTorch here: fused_ops.cpp and fused_adam.cpp wrap them.
#pragma once
#include <cstdint>

namespace amortize::vae::kernels {

// h = softplus(a), and sig = sigmoid(a) unless sig is null.
void softplus(const float* a, float* h, float* sig, int64_t n);

// For rows [begin, end) of logits l (rows x cols): out[r] = sum_j x_j l_rj - max(l_rj, 0) -
// log1p(exp(-|l_rj|)) with x the row r % x_rows of x, and d = x - sigmoid(l) unless d is null.
// `term` is scratch space of cols floats.
void bernoulli_logits(const float* l, const float* x, float* out, float* d, int64_t begin, int64_t end, int64_t cols,
                      int64_t x_rows, float* term);

// out = d * g[r] for each row r of d (rows x cols): the Bernoulli log-density's backward.
void scale_rows(const float* d, const float* g, float* out, int64_t rows, int64_t cols);

// Adam (torch.optim.Adam's arithmetic): m += (1 - beta1)(g - m); v = beta2 v + (1 - beta2) g^2;
// p -= step * m / (sqrt(v) + eps_hat).
void adam(float* p, const float* g, float* m, float* v, int64_t n, float beta1, float beta2, float step, float eps_hat);

}  // namespace amortize::vae::kernels
