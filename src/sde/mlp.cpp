#include "amortize/sde/mlp.hpp"

#include <stdexcept>

namespace amortize::sde {

Activation activation_from_name(const std::string& name) {
  if (name == "tanh") return Activation::kTanh;
  if (name == "relu") return Activation::kRelu;
  if (name == "softplus") return Activation::kSoftplus;
  if (name == "silu") return Activation::kSilu;
  throw std::invalid_argument("sde::activation_from_name: unknown activation '" + name +
                              "' (expected tanh, relu, softplus or silu)");
}

MlpImpl::MlpImpl(int64_t in, const std::vector<int64_t>& hidden, int64_t out, Activation activation,
                 const at::TensorOptions& options)
    : in_(in), out_(out), activation_(activation) {
  if (in < 1 || out < 1) throw std::invalid_argument("sde::Mlp: input and output sizes must be positive");
  int64_t prev = in;
  std::vector<int64_t> sizes = hidden;
  sizes.push_back(out);
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] < 1) throw std::invalid_argument("sde::Mlp: layer " + std::to_string(i) + " has no units");
    auto layer = torch::nn::Linear(prev, sizes[i]);
    layer->to(options.dtype().toScalarType());
    layer->to(options.device());
    layers_.push_back(register_module("layer" + std::to_string(i), layer));
    prev = sizes[i];
  }
}

Tensor activate(Activation activation, const Tensor& pre) {
  switch (activation) {
    case Activation::kTanh: return at::tanh(pre);
    case Activation::kRelu: return at::relu(pre);
    case Activation::kSoftplus: return at::softplus(pre);
    case Activation::kSilu: return at::silu(pre);
  }
  return pre;
}

Tensor MlpImpl::forward(const Tensor& x) {
  Tensor h = x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = at::linear(h, layers_[i]->weight, layers_[i]->bias);
    if (i + 1 < layers_.size()) h = activate(activation_, h);
  }
  return h;
}

std::pair<Tensor, Tensor> MlpImpl::forward_with_tangent(const Tensor& x, const Tensor& dx) {
  Tensor h = x, dh = dx;
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = at::linear(h, layers_[i]->weight, layers_[i]->bias);
    dh = at::linear(dh, layers_[i]->weight);
    if (i + 1 < layers_.size()) {
      switch (activation_) {
        case Activation::kTanh:
          h = at::tanh(h);
          dh = at::addcmul(dh, dh, h.square(), -1);  // dh (1 - h^2)
          break;
        case Activation::kRelu:
          dh = at::threshold_backward(dh, h, 0);  // dh where h > 0, else 0
          h = at::relu(h);
          break;
        case Activation::kSoftplus:
          dh = dh * at::sigmoid(h);
          h = at::softplus(h);
          break;
        case Activation::kSilu: {
          const Tensor s = at::sigmoid(h);
          const Tensor hs = h * s;
          dh = dh * at::addcmul(s + hs, hs, s, -1);  // silu' = s (1 + h (1 - s))
          h = hs;
          break;
        }
      }
    }
  }
  return {h, dh};
}

}  // namespace amortize::sde
