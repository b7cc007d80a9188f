// AutoNormal: a mean-field Gaussian in unconstrained space, one loc and scale per latent
// element (Pyro's AutoNormal). All sites share two flat parameters, `<prefix>.loc` and
// `<prefix>.scale` (sites in trace order, each flattened), split per site in one autograd node:
// a step then updates two tensors instead of two per site. Local latents in subsampled plates
// keep full-size parameters and use the rows of the current batch.
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
  // Sets a site's unconstrained loc and (positive) scale, full size.
  void set_loc_scale(const std::string& site, const Tensor& loc, const Tensor& scale);

 protected:
  void create_params() override;
  void sample_latents() override;

 private:
  // The site's position in the flat parameters; throws naming an unknown site.
  std::pair<int64_t, const LatentSite*> locate(const std::string& site);
  std::vector<int64_t> sizes_;
  std::vector<Shape> shapes_;
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
