#include "amortize/pavi/iterate_average.hpp"

#include "amortize/model/param_store.hpp"

#include <stdexcept>

namespace amortize::pavi {

void IterateAverage::add_group(const std::vector<std::string>& names, int64_t first_step) {
  auto& store = model::active_param_store();
  for (const auto& name : names) {
    if (!store.contains(name)) throw std::invalid_argument("IterateAverage: no parameter named '" + name + "'");
    for (const auto& g : groups_) {
      for (const auto& other : g.names)
        if (other == name) throw std::invalid_argument("IterateAverage: '" + name + "' is in two groups");
    }
  }
  groups_.push_back({names, first_step, 0, {}});
}

void IterateAverage::record(int64_t step) {
  at::NoGradGuard no_grad;
  auto& store = model::active_param_store();
  for (auto& g : groups_) {
    if (step < g.first_step) continue;
    if (g.count == 0) {
      for (const auto& name : g.names) g.average[name] = store.entry(name).unconstrained.detach().clone();
    } else {
      const double w = 1.0 / static_cast<double>(g.count + 1);
      for (auto& [name, avg] : g.average) avg.lerp_(store.entry(name).unconstrained.detach(), w);
    }
    ++g.count;
  }
}

void IterateAverage::apply() {
  at::NoGradGuard no_grad;
  auto& store = model::active_param_store();
  for (auto& g : groups_) {
    for (auto& [name, avg] : g.average) store.entry(name).unconstrained.copy_(avg);
  }
}

}  // namespace amortize::pavi
