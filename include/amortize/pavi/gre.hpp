// The Gaussian random-effects model (GRE), PAVI's reference hierarchy: a global mean
// mu ~ N(0, s_mu^2 I_D), group means mu_g ~ N(mu, s_g^2 I_D) for g = 1..G and observations
// x_{g,n} ~ N(mu_g, s_x^2 I_D) for n = 1..N. Being linear-Gaussian, its posterior is known in
// closed form, which makes it the yardstick for every guide. The model runs in the model
// language with the group plate subsampled to a batch of B groups (log-densities scaled by G/B).
#pragma once
#include "amortize/dist/tensor_args.hpp"

#include <cstdint>
#include <utility>

namespace amortize::pavi {

struct GreScales {
  double mu = 0.5;     // prior sd of the global mean
  double group = 0.5;  // sd of a group mean around the global mean
  double obs = 0.1;    // observation noise sd
};

struct GreDataOptions {
  int64_t groups = 10;
  int64_t obs_per_group = 5;
  int64_t dim = 2;
  uint64_t seed = 0;
  GreScales scales;
  at::TensorOptions options = at::TensorOptions().dtype(at::kFloat);
};

// A synthetic data set drawn from the prior: x has shape [G, N, D]; the true values come along.
struct GreData {
  Tensor x;
  Tensor true_mu;    // [D]
  Tensor true_mu_g;  // [G, D]
};
GreData generate_gre(const GreDataOptions& options);

// Marginal posterior moments (float64): mu_* have shape [D], mu_g_* shape [G, D].
struct GrePosterior {
  Tensor mu_mean, mu_sd, mu_g_mean, mu_g_sd;
};
// The exact posterior of GRE given x [G, N, D]; the mu_g moments of the first `local_groups`
// groups only (negative: all).
GrePosterior gre_exact_posterior(const Tensor& x, const GreScales& scales = {}, int64_t local_groups = -1);
// log p(x), the model evidence: the largest value any guide's ELBO can reach (float64 sum).
double gre_log_evidence(const Tensor& x, const GreScales& scales = {});
// The optimum of the mean-field Gaussian family (exact means, sds 1 / sqrt(diagonal precision)).
GrePosterior gre_mean_field_optimum(const Tensor& x, const GreScales& scales = {});

// The model as a program: sites "mu" (event [D]), "mu_g" (plate "groups", event [D]) and the
// observed "x" (plate "groups", event [N, D]). batch_size < G subsamples the groups.
struct GreModel {
  GreModel(Tensor data, int64_t batch = 0, GreScales s = {}) : x(std::move(data)), batch_size(batch), scales(s) {}
  Tensor x;                // [G, N, D]
  int64_t batch_size = 0;  // 0: all groups
  GreScales scales;
  void operator()() const;
};

}  // namespace amortize::pavi
