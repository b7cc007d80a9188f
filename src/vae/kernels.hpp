// Raw float32 kernels of the VAE's hot loop, on contiguous arrays: softplus with its derivative,
// the Bernoulli-logits log-density with its gradient, and the diagonal Gaussian's draw and
// log-density with their gradients, each in one pass (Adam's fused update is optim's:
// infer/optim/fused_adam.hpp). No LibTorch here: fused_ops.cpp and latent_normal.cpp wrap them.
#pragma once
#include <cstdint>

namespace amortize::vae::kernels {

// h = softplus(a), and sig = sigmoid(a) unless sig is null.
void softplus(const float* a, float* h, float* sig, int64_t n);

// The same for a + bias, bias added to every row of a (rows x cols): a hidden layer's output.
void softplus_bias(const float* a, const float* bias, float* h, float* sig, int64_t rows, int64_t cols);

// Its backward: da = g * sig (rows x cols) and dbias = the column sums of da.
void softplus_bias_backward(const float* g, const float* sig, float* da, float* dbias, int64_t rows, int64_t cols);

// For rows [begin, end) of logits l (rows x cols): out[r] = sum_j x_j l_rj - max(l_rj, 0) -
// log1p(exp(-|l_rj|)) with x the row r % x_rows of x, and d = x - sigmoid(l) unless d is null.
// `term` is scratch space of cols floats.
void bernoulli_logits(const float* l, const float* x, float* out, float* d, int64_t begin, int64_t end, int64_t cols,
                      int64_t x_rows, float* term);

// out = d * g[r] for each row r of d (rows x cols): the Bernoulli log-density's backward.
void scale_rows(const float* d, const float* g, float* out, int64_t rows, int64_t cols);

// Diagonal Gaussians over rows of `cols` values whose parameters loc and log_scale have
// `base_rows` rows, repeated over the value's rows (row r uses parameter row r % base_rows).
// Draw: scale = exp(log_scale) (base_rows x cols), z = loc + scale * eps (rows x cols).
void diagonal_normal_rsample(const float* loc, const float* log_scale, const float* eps, float* scale, float* z,
                             int64_t rows, int64_t base_rows, int64_t cols);
// Its backward: dloc = sum over repeats of gz, dlog_scale = sum of gz * eps * scale.
void diagonal_normal_rsample_backward(const float* gz, const float* eps, const float* scale, float* dloc,
                                      float* dlog_scale, int64_t rows, int64_t base_rows, int64_t cols);
// Log-density: inv = exp(-log_scale), u = (v - loc) * inv, out[r] = sum_j -u^2/2 - log_scale_j
// - log(2 pi)/2; keeps inv (base_rows x cols) and u (rows x cols) for the backward.
void diagonal_normal_log_prob(const float* v, const float* loc, const float* log_scale, float* inv, float* u,
                              float* out, int64_t rows, int64_t base_rows, int64_t cols);
// Its backward for output gradients g (rows): dv = -u inv g, dloc = sum of u inv g, dlog_scale =
// sum of (u^2 - 1) g (sums over the repeats of each parameter row).
void diagonal_normal_log_prob_backward(const float* g, const float* inv, const float* u, float* dv, float* dloc,
                                       float* dlog_scale, int64_t rows, int64_t base_rows, int64_t cols);
// Standard normal log-density of rows: out[r] = -sum_j v_j^2 / 2 - cols log(2 pi) / 2.
void standard_normal_log_prob(const float* v, float* out, int64_t rows, int64_t cols);

// True when no element of p[0, n) is infinite or NaN (an exponent of all ones).
bool all_finite(const float* p, int64_t n);
// The largest |p[i]| over [0, n) (0 for n = 0), or infinity if any element is infinite or NaN.
float max_abs(const float* p, int64_t n);

// out (rows x cols) = row repeated on every row.
void repeat_row(const float* row, float* out, int64_t rows, int64_t cols);

}  // namespace amortize::vae::kernels
