// Set encoders for PAVI-E: a plate element's encoding computed from the element's own data (a
// set of observations), so the guide's parameter count does not depend on the plate's size.
// DeepSetEncoder: E = rho([mean_n x_n, mean_n phi(x_n)]) with MLPs phi and rho (rho has a
// linear skip), invariant to the order of the observations. Input [..., N, F] -> [..., D_E].
// It starts as a linear map of the observations' mean (the nonlinear parts start at zero).
#pragma once
#include "amortize/dist/tensor_args.hpp"

#include <ATen/core/Generator.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

namespace amortize::pavi {

class DeepSetEncoderImpl : public torch::nn::Module {
 public:
  // Parameters initialised from `generator`, float32 (move with ->to()).
  DeepSetEncoderImpl(int64_t features, int64_t encoding_dim, int64_t hidden, at::Generator generator);
  Tensor forward(const Tensor& set);
  int64_t features() const { return features_; }
  int64_t encoding_dim() const { return encoding_dim_; }

 private:
  int64_t features_, encoding_dim_;
  torch::nn::Linear phi1_{nullptr}, phi2_{nullptr}, rho1_{nullptr}, rho2_{nullptr}, skip_{nullptr};
};
TORCH_MODULE(DeepSetEncoder);

}  // namespace amortize::pavi
