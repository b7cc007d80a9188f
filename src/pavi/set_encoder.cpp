#include "amortize/pavi/set_encoder.hpp"

#include "amortize/pavi/conditional_flow.hpp"
#include "amortize/pavi/set_transformer.hpp"

#include <stdexcept>
#include <string>

namespace amortize::pavi {

DeepSetEncoderImpl::DeepSetEncoderImpl(int64_t features, int64_t encoding_dim, int64_t hidden, at::Generator generator)
    : features_(features), encoding_dim_(encoding_dim) {
  if (features < 1 || encoding_dim < 1 || hidden < 1) {
    throw std::invalid_argument("DeepSetEncoder: features, encoding_dim and hidden must be positive");
  }
  phi1_ = register_module("phi1", torch::nn::Linear(features, hidden));
  phi2_ = register_module("phi2", torch::nn::Linear(hidden, hidden));
  rho1_ = register_module("rho1", torch::nn::Linear(features + hidden, hidden));
  rho2_ = register_module("rho2", torch::nn::Linear(hidden, encoding_dim));
  skip_ = register_module("skip", torch::nn::Linear(features + hidden, encoding_dim));
  for (auto* l : {&phi1_, &phi2_, &rho1_, &skip_}) init_linear(*l, generator);
  // Start linear in the observations' mean: the nonlinear output and the skip's weights on the
  // pooled features start at zero, so that linear-Gaussian posteriors are the starting point and
  // nonlinearity is learned only where it raises the ELBO.
  init_linear(rho2_, generator, /*zero=*/true);
  {
    torch::NoGradGuard no_grad;
    skip_->weight.narrow(1, features, hidden).zero_();
  }
}

Tensor DeepSetEncoderImpl::forward(const Tensor& set) {
  if (set.dim() < 2 || set.size(-1) != features_) {
    throw std::invalid_argument("DeepSetEncoder: expected a set of shape [..., N, " + std::to_string(features_) +
                                "], got " + dist::shape_string(set.sizes()));
  }
  Tensor phi = phi2_->forward(at::elu(phi1_->forward(set)));
  Tensor pooled = at::cat({set.mean(-2), phi.mean(-2)}, -1);
  return rho2_->forward(at::elu(rho1_->forward(pooled))) + skip_->forward(pooled);
}

SetEncoderKind parse_set_encoder(const std::string& name) {
  if (name == "deepset") return SetEncoderKind::DeepSet;
  if (name == "set-transformer") return SetEncoderKind::SetTransformer;
  throw std::invalid_argument("set encoder: unknown kind '" + name + "' (known: deepset, set-transformer)");
}

std::string to_string(SetEncoderKind kind) { return kind == SetEncoderKind::DeepSet ? "deepset" : "set-transformer"; }

std::shared_ptr<SetEncoder> make_set_encoder(int64_t features, int64_t encoding_dim, const SetEncoderOptions& o,
                                             at::Generator generator) {
  if (o.kind == SetEncoderKind::DeepSet) {
    return std::make_shared<DeepSetEncoderImpl>(features, encoding_dim, o.hidden, generator);
  }
  return std::make_shared<SetTransformerEncoderImpl>(features, encoding_dim, o.hidden, o.inducing_points, o.heads,
                                                     generator);
}

}  // namespace amortize::pavi
