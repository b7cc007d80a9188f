// The variational autoencoder (Kingma & Welling 2014) for binarised images, written in the
// model language: the model draws a latent code z ~ N(0, I) per image and decodes it through an
// MLP into Bernoulli logits for the pixels; the guide is the amortized posterior
// q(z | x) = N(loc(x), diag scale(x)^2) computed by an MLP encoder (latent_normal.hpp: both
// latent densities are fused autograd nodes). Both run inside a plate over
// the batch's rows of the data set, so log-densities are scaled to the whole data set.
#pragma once
#include "amortize/dist/tensor_args.hpp"

#include <ATen/core/Generator.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <utility>

namespace amortize::vae {

struct VaeOptions {
  int64_t pixels = 784;
  int64_t hidden = 400;
  int64_t latent = 50;
};

// x -> softplus(W1 x + b1) -> (loc, exp(log_scale)), as Pyro's VAE example.
class EncoderImpl : public torch::nn::Module {
 public:
  explicit EncoderImpl(const VaeOptions& options);
  // (loc, scale) of q(z | x).
  std::pair<Tensor, Tensor> forward(const Tensor& x);
  // (loc, log scale): what the guide's DiagonalNormal takes (the exp is fused into its draw).
  std::pair<Tensor, Tensor> loc_and_log_scale(const Tensor& x);

  torch::nn::Linear hidden{nullptr}, loc{nullptr}, log_scale{nullptr};
};
TORCH_MODULE(Encoder);

// z -> softplus(W1 z + b1) -> pixel logits.
class DecoderImpl : public torch::nn::Module {
 public:
  explicit DecoderImpl(const VaeOptions& options);
  Tensor forward(const Tensor& z);

  torch::nn::Linear hidden{nullptr}, logits{nullptr};
};
TORCH_MODULE(Decoder);

class Vae {
 public:
  // Weights drawn from `generator` (PyTorch's default Linear init: U(-1/sqrt(fan_in),
  // 1/sqrt(fan_in))), in the dtype and on the device of `tensor_options`.
  Vae(VaeOptions options, at::Generator generator, c10::TensorOptions tensor_options = at::kFloat);

  // p(z) p(x | z) for images x of shape (batch, pixels), rows `indices` of a data set of
  // `data_size` images. With Monte-Carlo particles, z has a leading particle dimension.
  void model(const Tensor& x, const Tensor& indices, int64_t data_size);
  // q(z | x) by the encoder.
  void guide(const Tensor& x, const Tensor& indices, int64_t data_size);

  const VaeOptions& options() const { return options_; }
  const c10::TensorOptions& tensor_options() const { return tensor_options_; }
  Encoder& encoder() { return encoder_; }
  Decoder& decoder() { return decoder_; }
  // Pixel probabilities sigmoid(decoder(z)), without gradient.
  Tensor decode_probs(const Tensor& z);
  // (loc, scale) of q(z | x), without gradient.
  std::pair<Tensor, Tensor> encode(const Tensor& x);

  // Saves the encoder and decoder weights as an amortize checkpoint (infer/checkpoint.hpp: written
  // to a temporary file, then renamed into place) and loads them; a missing, corrupt or foreign
  // file, or one of other sizes, throws infer::CheckpointError naming it.
  void save(const std::string& path);
  void load(const std::string& path);

 private:
  VaeOptions options_;
  c10::TensorOptions tensor_options_;
  Encoder encoder_{nullptr};
  Decoder decoder_{nullptr};
};

}  // namespace amortize::vae
