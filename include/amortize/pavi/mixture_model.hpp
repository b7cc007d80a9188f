// A Gaussian mixture with random effects for PAVI (issue 6; ADAVI's "GM" example): K global
// component means m_k ~ N(0, s_m^2 I_D); per group g, its own mixture weights
// pi_g ~ Dirichlet(c 1_K) and component means m_{g,k} ~ N(m_k, s_g^2 I_D); observations
// x_{g,n} ~ sum_k pi_{g,k} N(m_{g,k}, s_x^2 I_D). The component labels are marginalised (PAVI needs
// continuous latents); the simplex site makes biject_to's stick-breaking do real work. The group
// plate is subsampled to a batch of B groups.
#pragma once
#include "amortize/dist/tensor_args.hpp"

#include <cstdint>
#include <utility>

namespace amortize::pavi {

struct MixtureScales {
  double component = 1.0;      // prior sd of the global component means
  double group = 0.2;          // sd of a group's component mean around the global one
  double obs = 0.1;            // observation noise sd
  double concentration = 1.0;  // Dirichlet prior of a group's weights
};

struct MixtureDataOptions {
  int64_t groups = 10;
  int64_t obs_per_group = 20;
  int64_t dim = 2;
  int64_t components = 3;
  uint64_t seed = 0;
  MixtureScales scales;
  at::TensorOptions options = at::TensorOptions().dtype(at::kFloat);
};

// Drawn from the prior: x [G, N, D], with the true values.
struct MixtureData {
  Tensor x, true_means /* [K, D] */, true_weights /* [G, K] */, true_group_means /* [G, K, D] */;
};
MixtureData generate_mixture(const MixtureDataOptions& options);

// Sites "means" (event [K, D]), in plate "groups": "weights" (event [K], simplex) and
// "group_means" (event [K, D]), and the observed "x" (event [N, D]).
struct MixtureModel {
  MixtureModel(Tensor data, int64_t components, int64_t batch = 0, MixtureScales s = {})
      : x(std::move(data)), components(components), batch_size(batch), scales(s) {}
  Tensor x;
  int64_t components;
  int64_t batch_size = 0;  // 0: all groups
  MixtureScales scales;
  void operator()() const;
};

}  // namespace amortize::pavi
