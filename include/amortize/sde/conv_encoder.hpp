// ARCTA's encoder for image observations: a window of M frames, stacked as M input channels,
// goes through stride-2 convolutions (kernel 4, padding 1: each halves the frame's sides) with
// an activation after each, then an MLP head to the interpolant's node values (mu, l).
#pragma once
#include "amortize/sde/mlp.hpp"

#include <torch/nn/modules/conv.h>

namespace amortize::sde {

struct ConvEncoderOptions {
  int64_t frames = 1;  // M, the input channels
  int64_t height = 32, width = 32;
  std::vector<int64_t> channels{16, 32};
  std::vector<int64_t> hidden{128};  // the MLP head's hidden layers
  int64_t out = 4;
  Activation activation = Activation::kRelu;
};

class ConvEncoderImpl : public torch::nn::Module {
 public:
  // Throws std::invalid_argument if the frame is too small for the convolutions.
  explicit ConvEncoderImpl(const ConvEncoderOptions& options,
                           const at::TensorOptions& tensor_options = at::TensorOptions());
  // windows [B, M * H * W] (or [B, M, H, W]) -> [B, out].
  Tensor forward(const Tensor& windows);

 private:
  ConvEncoderOptions options_;
  std::vector<torch::nn::Conv2d> convs_;
  Mlp head_{nullptr};
};
TORCH_MODULE(ConvEncoder);

}  // namespace amortize::sde
