// A fully connected network (Linear layers with one activation between them) used for ARCTA's
// drift, encoder, decoder and kernel warp. Besides the forward pass it propagates a tangent
// (a directional derivative J(x) dx) analytically, which gives the deep kernel's time
// derivatives without finite differences or forward-mode autograd.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

#include <string>
#include <utility>
#include <vector>

namespace amortize::sde {

using Tensor = at::Tensor;

enum class Activation { kTanh, kRelu, kSoftplus, kSilu };

// "tanh", "relu", "softplus" or "silu"; throws naming the unknown name.
Activation activation_from_name(const std::string& name);
// The activation applied elementwise.
Tensor activate(Activation activation, const Tensor& x);

class MlpImpl : public torch::nn::Module {
 public:
  // in -> hidden[0] -> ... -> out, the activation after every hidden layer, none at the output.
  // Parameters take dtype and device from `options`.
  MlpImpl(int64_t in, const std::vector<int64_t>& hidden, int64_t out, Activation activation,
          const at::TensorOptions& options = at::TensorOptions());

  Tensor forward(const Tensor& x);
  // (y, dy) with dy = J(x) dx; dx has x's shape.
  std::pair<Tensor, Tensor> forward_with_tangent(const Tensor& x, const Tensor& dx);

  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

 private:
  int64_t in_, out_;
  Activation activation_;
  std::vector<torch::nn::Linear> layers_;
};
TORCH_MODULE(Mlp);

}  // namespace amortize::sde
