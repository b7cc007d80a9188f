#include "amortize/pavi/hierarchy.hpp"

#include <algorithm>
#include <stdexcept>

namespace amortize::pavi {

Hierarchy gre_hierarchy(const GreData& data, int64_t batch) {
  Tensor x = data.x;
  return {"gre",
          [x, batch] { GreModel(x, batch)(); },
          {{"groups", batch}},
          {{"groups", x}},
          {"mu"},
          {{"mu", data.true_mu}}};
}

Hierarchy gamma_laplace_hierarchy(const GammaLaplaceData& data, int64_t batch) {
  Tensor x = data.x;
  return {
      "gamma-laplace",     [x, batch] { GammaLaplaceModel(x, batch)(); }, {{"groups", batch}}, {{"groups", x}}, {"a"},
      {{"a", data.true_a}}};
}

Hierarchy mixture_hierarchy(const MixtureData& data, int64_t batch) {
  Tensor x = data.x;
  const int64_t k = data.true_means.size(0);
  return {"mixture",           [x, k, batch] { MixtureModel(x, k, batch)(); },
          {{"groups", batch}}, {{"groups", x}},
          {"means"},           {{"means", data.true_means}}};
}

Hierarchy three_level_hierarchy(const ThreeLevelData& data, int64_t subject_batch, int64_t session_batch) {
  Tensor x = data.x;
  const int64_t s = x.size(0), t = x.size(1);
  if (subject_batch <= 0) subject_batch = s;
  if (session_batch <= 0) session_batch = t;
  // A subject's set: all its sessions' observations; a session's: its locations'.
  return {"three-level",
          [x, subject_batch, session_batch] { ThreeLevelModel(x, subject_batch, session_batch)(); },
          {{"subjects", subject_batch}, {"sessions", session_batch}},
          {{"subjects", x.reshape({s, -1, x.size(3)})}, {"sessions", x}},
          {"mu"},
          {{"mu", data.true_mu}}};
}

std::vector<std::string> hierarchy_names() { return {"gre", "gamma-laplace", "mixture", "three-level"}; }

Hierarchy make_hierarchy(const std::string& name, const HierarchySize& z) {
  const int64_t batch = std::min(z.batch, z.groups);
  if (name == "gre") {
    GreDataOptions o;
    o.groups = z.groups;
    o.obs_per_group = z.obs_per_group;
    o.seed = z.seed;
    return gre_hierarchy(generate_gre(o), batch);
  }
  if (name == "gamma-laplace") {
    GammaLaplaceDataOptions o;
    o.groups = z.groups;
    o.obs_per_group = z.obs_per_group;
    o.seed = z.seed;
    return gamma_laplace_hierarchy(generate_gamma_laplace(o), batch);
  }
  if (name == "mixture") {
    MixtureDataOptions o;
    o.groups = z.groups;
    o.obs_per_group = z.obs_per_group;
    o.components = z.components;
    o.seed = z.seed;
    return mixture_hierarchy(generate_mixture(o), batch);
  }
  if (name == "three-level") {
    ThreeLevelDataOptions o;
    o.subjects = z.groups;
    o.sessions = z.sessions;
    o.locations = z.obs_per_group;
    o.seed = z.seed;
    return three_level_hierarchy(generate_three_level(o), batch);
  }
  std::string known;
  for (const auto& n : hierarchy_names()) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown model '" + name + "' (known: " + known + ")");
}

}  // namespace amortize::pavi
