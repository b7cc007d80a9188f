// One fit of GRE by PAVI (free or set encodings), the non-amortized flow baseline (unshared
// encoding) or the mean-field baseline (AutoNormal with
// the same plate subsampling), with the measurements the command and the benchmarks report:
// the ELBO trace against wall time, the parameter count, peak memory, and the errors of the
// fitted marginals against the exact posterior.
#pragma once
#include "amortize/io/process_memory.hpp"
#include "amortize/pavi/gre.hpp"
#include "amortize/pavi/pavi_guide.hpp"
#include "amortize/pavi/training.hpp"

#include <string>
#include <vector>

namespace amortize::pavi {

enum class GreMethod { Pavi, MeanField };

// The training loop's settings (steps, particles, learning rates, seed, averaging, time limit)
// and the guide's.
struct GreFitOptions : TrainingOptions {
  GreMethod method = GreMethod::Pavi;
  Encoding encoding = Encoding::Free;
  int64_t batch = 1000;  // groups per step (capped at G)
  // PAVI: batches sweep the groups in random epochs; base draws in antithetic pairs.
  bool reshuffle = true;
  bool antithetic = true;
  int64_t encoding_dim = 8;
  int64_t hidden = 32;
  SetEncoderKind set_encoder = SetEncoderKind::DeepSet;  // PAVI-E's encoder
  // Moments of the local sites are computed over this many groups at most (0: all), in chunks.
  int64_t evaluate_groups = 0;
  int64_t draws = 200;
  int64_t chunk = 100000;
  // At least this many independent particles of the final guide's population ELBO (PAVI and
  // mean-field; 0: not computed).
  int64_t elbo_particles = 2;
};

// The training trace (ELBO per step against wall time) and the measurements.
struct GreFitResult : TrainingTrace {
  double moments_seconds = 0;
  int64_t n_parameters = 0;
  int64_t latent_dims = 0;
  double peak_rss_mb = 0;
  GrePosterior fitted;  // mu_* [D]; mu_g_* [evaluated groups, D]
  // Errors against the exact posterior, in exact sds (means) and relative (sds).
  double mu_mean_error_sd = 0, mu_sd_rel_error = 0;
  double mu_g_mean_error_sd_mean = 0, mu_g_mean_error_sd_max = 0, mu_g_sd_rel_error_mean = 0;
};

GreFitResult fit_gre(const GreData& data, const GreFitOptions& options);

// The PAVI guide's settings from a fit's options (shared by the models' fits): `data`
// [G, N, F] is the groups' data for set encodings, `batch` groups a step.
PaviOptions pavi_options(const GreFitOptions& options, const Tensor& data, int64_t batch);

std::string to_string(GreMethod method, Encoding encoding);

}  // namespace amortize::pavi
