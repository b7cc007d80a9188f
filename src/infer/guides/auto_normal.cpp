#include "amortize/infer/guides/auto_normal.hpp"

#include "amortize/dist/continuous/delta.hpp"
#include "amortize/dist/continuous/normal.hpp"
#include "amortize/infer/guides/split_sites.hpp"
#include "amortize/infer/guides/sticking_the_landing.hpp"
#include "amortize/model/param_store.hpp"

namespace amortize::infer {

AutoNormal::AutoNormal(Program model, InitStrategy init, double init_scale, std::string prefix)
    : AutoGuide(std::move(model), std::move(prefix), std::move(init), init_scale) {}

void AutoNormal::create_params() {
  std::vector<Tensor> parts;
  for (const auto& s : sites_) {
    const Tensor& init = s.init_unconstrained;
    if (!parts.empty() && (init.scalar_type() != parts.front().scalar_type() || init.device() != parts.front().device())) {
      throw model::ModelError(prefix_ + ": site '" + s.name + "' has another dtype or device than site '" +
                              sites_.front().name + "'; the flat parameters need one");
    }
    parts.push_back(s.init_unconstrained.reshape(-1));
    sizes_.push_back(s.numel());
    shapes_.push_back(s.unconstrained_shape);
  }
  if (parts.empty()) throw model::ModelError(prefix_ + ": the model has no latent sites");
  Tensor loc = at::cat(parts);
  make_param("loc", loc);
  make_param("scale", at::full_like(loc, init_scale_), dist::constraints::positive());
}

std::pair<int64_t, const LatentSite*> AutoNormal::locate(const std::string& site) {
  setup();
  int64_t offset = 0;
  for (const auto& s : sites_) {
    if (s.name == site) return {offset, &s};
    offset += s.numel();
  }
  throw model::ModelError(prefix_ + ": no latent site named '" + site + "'");
}

std::pair<Tensor, Tensor> AutoNormal::loc_scale(const std::string& site) {
  auto [offset, s] = locate(site);
  auto& store = model::active_param_store();
  auto piece = [&, offset = offset, s = s](const char* name) {
    return store.constrained(prefix_ + "." + name).narrow(0, offset, s->numel()).reshape(s->unconstrained_shape);
  };
  return {piece("loc"), piece("scale")};
}

void AutoNormal::set_loc_scale(const std::string& site, const Tensor& loc, const Tensor& scale) {
  auto [offset, s] = locate(site);
  auto& store = model::active_param_store();
  at::NoGradGuard no_grad;
  auto write = [&, offset = offset, s = s](const char* name, const Tensor& value) {
    const std::string key = prefix_ + "." + name;
    Tensor flat = store.constrained(key).clone();
    flat.narrow(0, offset, s->numel()).copy_(value.expand(s->unconstrained_shape).reshape(-1));
    store.assign(key, flat);
  };
  write("loc", loc);
  write("scale", scale);
}

void AutoNormal::sample_latents() {
  const auto locs = split_sites(make_param("loc", {}), sizes_, shapes_);
  const auto scales = split_sites(make_param("scale", {}, dist::constraints::positive()), sizes_, shapes_);
  for (size_t i = 0; i < sites_.size(); ++i) {
    const auto& s = sites_[i];
    auto plates = enter_plates(s);
    const int64_t event_dims = s.transform->domain_event_dim();
    Tensor loc = subsample(locs[i], s, event_dims);
    Tensor scale = subsample(scales[i], s, event_dims);
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
