// AutoNormal: a mean-field Gaussian in unconstrained space, one loc and scale per latent
// element (Pyro's AutoNormal). Local latents in subsampled plates keep full-size parameters
// and use the rows of the current batch.
#pragma once
#include "amortize/infer/guides/auto_guide.hpp"

namespace amortize::infer {

class AutoNormal : public AutoGuide {
 public:
  explicit AutoNormal(Program model, InitStrategy init = {}, double init_scale = 0.1,
                      std::string prefix = "AutoNormal");
  std::map<std::string, Tensor> median() override;
  // Unconstrained loc and scale of a site, full size.
  std::pair<Tensor, Tensor> loc_scale(const std::string& site);

 protected:
  void create_params() override;
  void sample_latents() override;
};

// AutoDelta: a point estimate per latent site (MAP estimation when optimising the ELBO).
class AutoDelta : public AutoGuide {
 public:
  explicit AutoDelta(Program model, InitStrategy init = {}, std::string prefix = "AutoDelta");
  std::map<std::string, Tensor> median() override;

 protected:
  void create_params() override;
  void sample_latents() override;
};

}  // namespace amortize::infer
