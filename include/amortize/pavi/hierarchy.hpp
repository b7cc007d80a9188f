// The hierarchies `amortize pavi fit --model NAME` knows, each on synthetic data drawn from a
// seed: the model program, the batch size of each subsampled plate, each plate's per-element
// data (for set encodings), the global sites to summarise and their true values.
#pragma once
#include "amortize/infer/elbo.hpp"
#include "amortize/pavi/gamma_laplace.hpp"
#include "amortize/pavi/gre.hpp"
#include "amortize/pavi/mixture_model.hpp"
#include "amortize/pavi/three_level.hpp"

#include <map>
#include <string>
#include <vector>

namespace amortize::pavi {

struct Hierarchy {
  std::string name;
  infer::Program model;
  std::map<std::string, int64_t> batches;      // per subsampled plate
  std::map<std::string, Tensor> element_data;  // per plate: [outer.., size, N, F]
  std::vector<std::string> global_sites;
  std::map<std::string, Tensor> truth;  // true values of the global sites
};

Hierarchy gre_hierarchy(const GreData& data, int64_t batch);
Hierarchy gamma_laplace_hierarchy(const GammaLaplaceData& data, int64_t batch);
Hierarchy mixture_hierarchy(const MixtureData& data, int64_t batch);
// Subjects batched by `subject_batch`, sessions by `session_batch` (0: all).
Hierarchy three_level_hierarchy(const ThreeLevelData& data, int64_t subject_batch, int64_t session_batch = 0);

struct HierarchySize {
  int64_t groups = 1000;      // subjects for three-level
  int64_t obs_per_group = 5;  // locations for three-level
  int64_t sessions = 3;       // three-level only
  int64_t components = 3;     // mixture only
  int64_t batch = 1000;       // groups (subjects) per step, capped at groups
  uint64_t seed = 1;
};
std::vector<std::string> hierarchy_names();  // gre, gamma-laplace, mixture, three-level
// Throws std::invalid_argument naming the known models for an unknown name.
Hierarchy make_hierarchy(const std::string& name, const HierarchySize& size);

}  // namespace amortize::pavi
