// Set encoders for PAVI-E: a plate element's encoding computed from the element's own data (a
// set of observations), so the guide's parameter count does not depend on the plate's size.
// Input [..., N, F] -> [..., D_E], invariant to the order of the N observations.
// DeepSetEncoder: E = rho([mean_n x_n, mean_n phi(x_n)]) with MLPs phi and rho (rho has a
// linear skip). It starts as a linear map of the observations' mean (the nonlinear parts start
// at zero). The set transformer (set_transformer.hpp) is the attention-based alternative.
#pragma once
#include "amortize/dist/tensor_args.hpp"

#include <ATen/core/Generator.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <memory>
#include <string>

namespace amortize::pavi {

class SetEncoder : public torch::nn::Module {
 public:
  virtual Tensor forward(const Tensor& set) = 0;
};

enum class SetEncoderKind { DeepSet, SetTransformer };
SetEncoderKind parse_set_encoder(const std::string& name);  // "deepset" | "set-transformer"
std::string to_string(SetEncoderKind kind);

class DeepSetEncoderImpl : public SetEncoder {
 public:
  // Parameters initialised from `generator`, float32 (move with ->to()).
  DeepSetEncoderImpl(int64_t features, int64_t encoding_dim, int64_t hidden, at::Generator generator);
  Tensor forward(const Tensor& set) override;
  int64_t features() const { return features_; }
  int64_t encoding_dim() const { return encoding_dim_; }

 private:
  int64_t features_, encoding_dim_;
  torch::nn::Linear phi1_{nullptr}, phi2_{nullptr}, rho1_{nullptr}, rho2_{nullptr}, skip_{nullptr};
};
TORCH_MODULE(DeepSetEncoder);

struct SetEncoderOptions {
  SetEncoderKind kind = SetEncoderKind::DeepSet;
  int64_t hidden = 32;
  int64_t inducing_points = 8;  // set transformer only
  int64_t heads = 2;            // set transformer only; must divide hidden
};
// An encoder of the chosen kind, initialised from `generator`, float32.
std::shared_ptr<SetEncoder> make_set_encoder(int64_t features, int64_t encoding_dim, const SetEncoderOptions& options,
                                             at::Generator generator);

}  // namespace amortize::pavi
