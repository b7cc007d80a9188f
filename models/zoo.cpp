#include "zoo.hpp"

#include "zoo_detail.hpp"

#include <stdexcept>

namespace amortize::models {

const std::vector<ModelSpec>& zoo() {
  static const std::vector<ModelSpec> specs = {
      {"eight_schools-eight_schools_noncentered", "eight schools, non-centred hierarchical model", {"J", "y", "sigma"},
       detail::eight_schools_noncentered},
      {"earnings-logearn_interaction", "log earnings on height, sex and their interaction (flat priors)",
       {"N", "earn", "height", "male"}, detail::earnings},
      {"kidiq-kidscore_interaction", "child test scores on mother's schooling and IQ with interaction",
       {"N", "kid_score", "mom_hs", "mom_iq"}, detail::kidiq},
      {"mesquite-logmesquite", "log biomass of mesquite bushes on log dimensions (flat priors)",
       {"N", "weight", "diam1", "diam2", "canopy_height", "total_height", "density", "group"}, detail::mesquite},
      {"sblrc-blr", "Bayesian linear regression, N = 100, D = 5", {"N", "D", "X", "y"}, detail::sblrc},
      {"arK-arK", "autoregressive model of order K", {"K", "T", "y"}, detail::ar_k},
      {"garch-garch11", "GARCH(1,1) volatility model", {"T", "y", "sigma1"}, detail::garch11},
      {"low_dim_gauss_mix-low_dim_gauss_mix", "two-component Gaussian mixture with ordered means", {"N", "y"},
       detail::low_dim_gauss_mix},
  };
  return specs;
}

const ModelSpec& find_model(const std::string& name) {
  std::string known;
  for (const auto& spec : zoo()) {
    if (spec.name == name) return spec;
    known += (known.empty() ? "" : ", ") + spec.name;
  }
  throw std::invalid_argument("unknown model '" + name + "' (known: " + known + ")");
}

}  // namespace amortize::models
