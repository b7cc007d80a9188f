// One fit of any hierarchy (hierarchy.hpp) by PAVI (free, set or unshared encodings) or by the
// mean-field baseline (AutoNormal with the same plate subsampling), with what the command
// reports: the training trace, parameter count, latent dimensions, peak memory and the
// posterior mean and sd of each global site.
#pragma once
#include "amortize/pavi/gre_fit.hpp"
#include "amortize/pavi/hierarchy.hpp"

#include <string>
#include <vector>

namespace amortize::pavi {

struct SiteSummary {
  std::string site;
  Tensor mean, sd;  // constrained, float64, the site's event shape
};

struct ModelFitResult : TrainingTrace {
  double moments_seconds = 0;
  int64_t n_parameters = 0;
  int64_t latent_dims = 0;
  double peak_rss_mb = 0;
  std::vector<SiteSummary> globals;  // in the order of Hierarchy::global_sites
};

// `options.batch` is ignored: the hierarchy carries its plates' batch sizes.
ModelFitResult fit_model(const Hierarchy& hierarchy, const GreFitOptions& options);

}  // namespace amortize::pavi
