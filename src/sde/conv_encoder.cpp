#include "amortize/sde/conv_encoder.hpp"

#include <stdexcept>
#include <string>

namespace amortize::sde {

ConvEncoderImpl::ConvEncoderImpl(const ConvEncoderOptions& options, const at::TensorOptions& tensor_options)
    : options_(options) {
  if (options.frames < 1 || options.out < 1 || options.channels.empty())
    throw std::invalid_argument("sde::ConvEncoder: frames, out and the number of convolutions must be positive");
  int64_t h = options.height, w = options.width, in = options.frames;
  for (size_t i = 0; i < options.channels.size(); ++i) {
    if (h < 2 || w < 2 || options.channels[i] < 1)
      throw std::invalid_argument("sde::ConvEncoder: a " + std::to_string(options.height) + "x" +
                                  std::to_string(options.width) + " frame is too small for " +
                                  std::to_string(options.channels.size()) + " stride-2 convolutions");
    auto conv = torch::nn::Conv2d(torch::nn::Conv2dOptions(in, options.channels[i], 4).stride(2).padding(1));
    conv->to(tensor_options.dtype().toScalarType());
    conv->to(tensor_options.device());
    convs_.push_back(register_module("conv" + std::to_string(i), conv));
    in = options.channels[i];
    h /= 2;
    w /= 2;
  }
  head_ = register_module("head", Mlp(in * h * w, options.hidden, options.out, options.activation, tensor_options));
}

Tensor ConvEncoderImpl::forward(const Tensor& windows) {
  Tensor h = windows.reshape({windows.size(0), options_.frames, options_.height, options_.width});
  for (auto& conv : convs_) {
    h = at::conv2d(h, conv->weight, conv->bias, {2, 2}, {1, 1});
    h = activate(options_.activation, h);
  }
  return head_->forward(h.flatten(1));
}

}  // namespace amortize::sde
