// AutoNormalizingFlow: the joint unconstrained latent is z = loc + L f(eps), eps ~ N(0, I),
// where f is a stack of inverse-autoregressive layers (Kingma et al. 2016), each an affine map
// whose shift and log-scale for element i come from a masked MLP (MADE) of the elements
// before it; successive layers reverse the order. The layers start as the identity, so the
// guide starts as the full-rank Gaussian (and from the Laplace approximation with
// initialize_laplace) and learns skew and curvature the Gaussian cannot hold.
#pragma once
#include "amortize/infer/guides/auto_continuous.hpp"

namespace amortize::infer {

struct FlowOptions {
  int64_t num_layers = 2;
  int64_t hidden_dim = 0;  // <= 0: max(2 D, 8)
};

class AutoNormalizingFlow : public AutoContinuous {
 public:
  explicit AutoNormalizingFlow(Program model, FlowOptions flow = {}, InitStrategy init = {},
                               double init_scale = 0.1, std::string prefix = "AutoNormalizingFlow");
  // The image of eps = 0 (the base's median) through the flow.
  std::map<std::string, Tensor> median() override;
  // Monte-Carlo moments of the flow (4096 draws from a fixed seed).
  std::pair<Tensor, Tensor> loc_covariance() override;
  // z = loc + L f(eps) and log|det dz/deps|, for eps of shape (..., D).
  std::pair<Tensor, Tensor> transform(const Tensor& eps);

 protected:
  void create_params() override;
  Tensor sample_joint() override;
  dist::DistPtr latent_distribution(bool detach_params) override;
  void set_loc_covariance(const Tensor& loc, const Tensor& covariance) override;

 private:
  struct LayerMasks {
    Tensor input_to_hidden;   // (H, D)
    Tensor hidden_to_output;  // (2 D, H)
  };
  FlowOptions flow_;
  std::vector<LayerMasks> masks_;
};

}  // namespace amortize::infer
