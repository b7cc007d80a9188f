#include "amortize/infer/guides/auto_normal.hpp"

#include "amortize/dist/continuous/delta.hpp"
#include "amortize/dist/continuous/normal.hpp"
#include "amortize/infer/guides/sticking_the_landing.hpp"
#include "amortize/model/param_store.hpp"

namespace amortize::infer {

AutoNormal::AutoNormal(Program model, InitStrategy init, double init_scale, std::string prefix)
    : AutoGuide(std::move(model), std::move(prefix), std::move(init), init_scale) {}

void AutoNormal::create_params() {
  for (const auto& s : sites_) {
    make_param("loc." + s.name, s.init_unconstrained);
    make_param("scale." + s.name, at::full_like(s.init_unconstrained, init_scale_), dist::constraints::positive());
  }
}

std::pair<Tensor, Tensor> AutoNormal::loc_scale(const std::string& site) {
  setup();
  auto& store = model::active_param_store();
  return {store.constrained(prefix_ + ".loc." + site), store.constrained(prefix_ + ".scale." + site)};
}

void AutoNormal::sample_latents() {
  for (const auto& s : sites_) {
    auto plates = enter_plates(s);
    const int64_t event_dims = s.transform->domain_event_dim();
    Tensor loc = subsample(make_param("loc." + s.name, {}), s, event_dims);
    Tensor scale = subsample(make_param("scale." + s.name, {}, dist::constraints::positive()), s, event_dims);
    auto q = dist::Normal(loc, scale).to_event(event_dims);
    if (sticking_the_landing_) {
      q = std::make_shared<StickingTheLanding>(q, dist::Normal(loc.detach(), scale.detach()).to_event(event_dims));
    }
    if (s.prior->support().kind() == dist::ConstraintKind::Real) {
      model::sample(s.name, *q);  // no transform: keeps the closed-form KL available
      continue;
    }
    Tensor z = model::sample("_" + prefix_ + "_" + s.name + "_unconstrained", *q);
    emit(s, z, event_dims);
  }
}

std::map<std::string, Tensor> AutoNormal::median() {
  setup();
  std::map<std::string, Tensor> out;
  at::NoGradGuard no_grad;
  for (const auto& s : sites_) out[s.name] = s.transform->forward(loc_scale(s.name).first);
  return out;
}

AutoDelta::AutoDelta(Program model, InitStrategy init, std::string prefix)
    : AutoGuide(std::move(model), std::move(prefix), std::move(init), 1.0) {}

void AutoDelta::create_params() {
  for (const auto& s : sites_) make_param("loc." + s.name, s.transform->forward(s.init_unconstrained), s.prior->support());
}

void AutoDelta::sample_latents() {
  for (const auto& s : sites_) {
    auto plates = enter_plates(s);
    Tensor value = make_param("loc." + s.name, {}, s.prior->support());
    const int64_t event_dims = s.prior->support().event_dim();
    model::sample(s.name, dist::Delta(subsample(value, s, event_dims), 0.0, event_dims));
  }
}

std::map<std::string, Tensor> AutoDelta::median() {
  setup();
  std::map<std::string, Tensor> out;
  at::NoGradGuard no_grad;
  for (const auto& s : sites_) out[s.name] = model::active_param_store().constrained(prefix_ + ".loc." + s.name);
  return out;
}

}  // namespace amortize::infer
