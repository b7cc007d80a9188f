// A non-conjugate hierarchy for PAVI (issue 6): a positive global a ~ Gamma(1, 0.5) in D = 2,
// group effects b_g ~ Laplace(a, 0.3) for g = 1..G, observations x_{g,n} ~ N(b_g, 0.1^2 I),
// n = 1..N. No closed-form posterior: the Gamma prior's support and the Laplace's kink make the
// guide's flows and biject_to do real work. The model runs in the model language with the
// group plate subsampled to a batch of B groups.
#pragma once
#include "amortize/dist/tensor_args.hpp"
#include "amortize/pavi/gre_fit.hpp"
#include "amortize/pavi/training.hpp"

#include <cstdint>
#include <utility>

namespace amortize::pavi {

struct GammaLaplaceScales {
  double concentration = 1.0, rate = 0.5;  // prior of a
  double group = 0.3;                      // Laplace scale of b_g around a
  double obs = 0.1;                        // observation noise sd
};

struct GammaLaplaceDataOptions {
  int64_t groups = 10;
  int64_t obs_per_group = 5;
  int64_t dim = 2;
  uint64_t seed = 0;
  GammaLaplaceScales scales;
  at::TensorOptions options = at::TensorOptions().dtype(at::kFloat);
};

// Drawn from the prior: x [G, N, D] with the true a [D] and b [G, D].
struct GammaLaplaceData {
  Tensor x, true_a, true_b;
};
GammaLaplaceData generate_gamma_laplace(const GammaLaplaceDataOptions& options);

// Sites "a" (event [D], positive), "b" (plate "groups", event [D]) and the observed "x".
struct GammaLaplaceModel {
  GammaLaplaceModel(Tensor data, int64_t batch = 0, GammaLaplaceScales s = {})
      : x(std::move(data)), batch_size(batch), scales(s) {}
  Tensor x;
  int64_t batch_size = 0;  // 0: all groups
  GammaLaplaceScales scales;
  void operator()() const;
};

// A fit by PAVI (any encoding) or mean-field AutoNormal (model_fit.hpp) with GRE's settings.
struct GammaLaplaceFit {
  TrainingTrace trace;
  int64_t n_parameters = 0, latent_dims = 0;
  double peak_rss_mb = 0, moments_seconds = 0;
  Tensor a_mean, a_sd;  // [D], float64, from guide draws
};
GammaLaplaceFit fit_gamma_laplace(const GammaLaplaceData& data, const GreFitOptions& options);

}  // namespace amortize::pavi
