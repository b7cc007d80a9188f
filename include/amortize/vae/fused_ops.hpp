// Fused elementwise operations for the VAE's hot loop. At batch 256 the pixel and hidden
// tensors are as large as the network's weights, so every elementwise pass over them costs a
// visible fraction of the matrix products; these do each job in one pass (float32, contiguous,
// CPU: hand-vectorised loops compiled for AVX2 and baseline x86-64, chosen at run time) and
// fall back to the equivalent ATen expression for any other dtype, device or layout.
#pragma once
#include "amortize/dist/tensor_args.hpp"

#include <vector>

namespace amortize::vae {

// softplus(a) = log(1 + exp(a)) as one autograd node that keeps sigmoid(a), its derivative,
// from the same pass (the backward is one multiplication).
Tensor softplus(const Tensor& a);

// softplus(x W^T + b), a hidden layer, as one autograd node around one matrix product: x of shape
// (..., in), weight (out, in), bias (out,). Throws std::invalid_argument if the shapes do not fit.
Tensor linear_softplus(const Tensor& x, const Tensor& weight, const Tensor& bias);

// x W^T + b (at::linear) as one autograd node whose products call the BLAS directly (no LibTorch
// operation per product), the same values bit for bit; x of shape (..., in). Throws
// std::invalid_argument if the shapes do not fit.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

// While alive, this thread's backward passes of linear and linear_softplus add the gradient of
// any weight listed here into its buffer (one product with BLAS beta = 1, with no separate pass
// zeroing a fresh output) and return that buffer as the weight's gradient. The buffers must be
// contiguous, of the weights' shapes and dtypes, and hold zeros when the backward runs (the VAE
// trainer's Adam pass zeroes them: see vae::FitOptions).
// Each buffer is checked for infinite and NaN values right after its product, while the
// product's output is still in cache (a separate pass over all the buffers costs about 1 % of
// a step). A deferring scope records the weight-gradient products instead (take_deferred), for
// data-parallel workers that split the weights' products between them once all their rows'
// backward passes are done; it returns the buffers as the gradients all the same. Scopes nest.
class WeightGradientScope {
 public:
  // A live scope's buffer for a weight: the buffer, and which scope and weight it belongs to.
  struct Slot {
    const Tensor* buffer = nullptr;
    WeightGradientScope* scope = nullptr;
    size_t index = 0;
  };

  // A weight-gradient product left for later: buffer `index` += dy^T x (add_weight_gradient),
  // with max |dy| taken while dy was in cache (infinite if any entry is NaN or infinite).
  struct DeferredProduct {
    size_t index = 0;
    Tensor dy, x;
    double dy_max_abs = 0.0;
  };

  WeightGradientScope(const std::vector<Tensor>& weights, const std::vector<Tensor>& buffers, bool defer = false);
  ~WeightGradientScope();
  WeightGradientScope(const WeightGradientScope&) = delete;
  WeightGradientScope& operator=(const WeightGradientScope&) = delete;
  // The innermost live scope's buffer for `weight` on this thread (buffer null if none).
  static Slot slot_for(const Tensor& weight);
  // Called after each product into buffer `index`: records it if the buffer is not all finite.
  void check_buffer(size_t index);
  // A deferring scope's products, in the order the backward passes reached them (it keeps none).
  bool defers() const { return defer_; }
  void defer(DeferredProduct product) { deferred_.push_back(std::move(product)); }
  std::vector<DeferredProduct> take_deferred() { return std::move(deferred_); }
  // The first weight (by index) whose buffer held an infinite or NaN value after a product, or -1.
  int64_t first_nonfinite() const { return first_nonfinite_; }

 private:
  std::vector<Tensor> weights_, buffers_;
  WeightGradientScope* outer_;
  bool defer_;
  std::vector<DeferredProduct> deferred_;
  int64_t first_nonfinite_ = -1;
};

// Rows [row_begin, row_end) of buffer += dy^T x (contiguous float32; BLAS beta = 1): a deferred
// weight-gradient product, or one worker's share of it (the same bits as the whole product's rows).
void add_weight_gradient(const Tensor& dy, const Tensor& x, Tensor& buffer, int64_t row_begin, int64_t row_end);

// Bernoulli log-density of x given logits, summed over the last dimension:
//   sum_j x_j l_j - max(l_j, 0) - log1p(exp(-|l_j|)),
// with gradient x - sigmoid(l) wrt the logits (x gets none). x broadcasts against the logits
// (typically (batch, pixels) against (particles, batch, pixels)); returns the logits' leading shape.
Tensor bernoulli_logits_log_prob(const Tensor& logits, const Tensor& x);

}  // namespace amortize::vae
