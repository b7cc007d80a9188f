// Conditional normalizing flows: bijections of R^D whose parameters are functions of a context
// vector (a plate element's encoding, and the values of the site's parents). PAVI shares one
// flow across all elements of a plate; the context tells the elements apart. Each layer maps a
// base draw u to z and returns log |det dz/du| per batch element; layers stack in a
// ConditionalFlow. Conditioners are small MLPs with a linear skip path, so that flows whose
// exact solution is affine in the context (linear-Gaussian models) are inside the family.
#pragma once
#include "amortize/dist/tensor_args.hpp"

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <ATen/core/Generator.h>

#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace amortize::pavi {

// A layer: z = f(u; context) with u, z of shape [..., D], context [..., C] broadcast to the same
// batch shape; returns (z, log|det dz/du|) with log-det shape [...].
class ConditionalLayer : public torch::nn::Module {
 public:
  virtual std::pair<Tensor, Tensor> forward(const Tensor& u, const Tensor& context) = 0;
  // Zeroes the weights reading context entries first.. (they then start without influence).
  virtual void zero_context_weights(int64_t first) = 0;
};

// z = shift(c) + L(c) u with L lower triangular: diagonal softplus(.) > 0 and, when
// `lower_triangular`, free strictly-lower entries. The initial scale is `init_scale`. The
// conditioner is an MLP with `hidden` units plus a linear skip; hidden = 0 leaves only the
// linear map (with a constant context: free location and scale parameters).
class ConditionalAffineImpl : public ConditionalLayer {
 public:
  ConditionalAffineImpl(int64_t dim, int64_t context_dim, int64_t hidden, bool lower_triangular, double init_scale,
                        at::Generator generator);
  std::pair<Tensor, Tensor> forward(const Tensor& u, const Tensor& context) override;
  void zero_context_weights(int64_t first) override;
  // z = shift + L u: shift [..., D] and the lower-triangular L [..., D, D].
  std::pair<Tensor, Tensor> shift_and_factor(const Tensor& context);

 private:
  Tensor conditioner(const Tensor& context);
  int64_t dim_, context_dim_;
  bool lower_;
  double scale_offset_;
  torch::nn::Linear hidden_{nullptr}, out_{nullptr}, skip_{nullptr};
  Tensor rows_, cols_;  // positions of the strictly-lower entries
};
TORCH_MODULE(ConditionalAffine);

// Conditional inverse autoregressive layer (MADE conditioner, as masked autoregressive flows):
// z_i = shift_i(u_<i, c) + scale_i(u_<i, c) u_i. `reverse` reverses the variable order.
class ConditionalAutoregressiveImpl : public ConditionalLayer {
 public:
  ConditionalAutoregressiveImpl(int64_t dim, int64_t context_dim, int64_t hidden, bool reverse,
                                at::Generator generator);
  std::pair<Tensor, Tensor> forward(const Tensor& u, const Tensor& context) override;
  void zero_context_weights(int64_t first) override;

 private:
  int64_t dim_;
  bool reverse_;
  Tensor w_in_, w_ctx_, b_in_, w_out_, b_out_, w_skip_, w_skip_ctx_;
  Tensor mask_in_, mask_out_, mask_skip_;
};
TORCH_MODULE(ConditionalAutoregressive);

struct ConditionalFlowOptions {
  int64_t affine_layers = 1;
  int64_t autoregressive_layers = 0;  // placed after the affine layers
  int64_t hidden = 32;
  bool lower_triangular = false;
  double init_scale = 0.1;
  // The affine layers' conditioners are linear in the context (no hidden layer).
  bool linear_affine = false;
};

// A stack of conditional layers on a standard-normal base of dimension D.
class ConditionalFlowImpl : public torch::nn::Module {
 public:
  // Parameters are initialised from `generator` (reproducible), in float32; move with ->to().
  ConditionalFlowImpl(int64_t dim, int64_t context_dim, ConditionalFlowOptions options, at::Generator generator);
  // (z, log|det dz/du|) for base draws u [..., D] and contexts [..., C] (broadcast together).
  std::pair<Tensor, Tensor> forward(const Tensor& u, const Tensor& context);
  int64_t dim() const { return dim_; }
  int64_t context_dim() const { return context_dim_; }
  // When every layer is affine, z = shift + L u given the context: (shift [..., D], L [..., D, D]),
  // the draws' exact conditional Gaussian (PaviGuide::moments uses it instead of sampling u).
  std::optional<std::pair<Tensor, Tensor>> gaussian(const Tensor& context);
  // Every layer starts without influence from context entries first.. (see PaviGuide: parents).
  void zero_context_weights(int64_t first);

 private:
  int64_t dim_, context_dim_;
  std::vector<std::shared_ptr<ConditionalLayer>> layers_;
};
TORCH_MODULE(ConditionalFlow);

// Broadcasts the batch shapes (all but the last dim) of `parts` and concatenates them along the
// last dim; `batch` is an extra batch shape to include (the base draw's).
Tensor broadcast_cat(const std::vector<Tensor>& parts, at::IntArrayRef batch);

// Fills a linear map's weight [out, in] and bias [out] like torch.nn.Linear (uniform within
// +-1/sqrt(in)) but from `generator`; `zero` sets both to 0 (output layers start at the skip path).
void init_linear(torch::nn::Linear& layer, at::Generator generator, bool zero = false);

}  // namespace amortize::pavi
