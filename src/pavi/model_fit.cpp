#include "amortize/pavi/model_fit.hpp"

#include "amortize/infer/guides/auto_normal.hpp"
#include "amortize/io/process_memory.hpp"
#include "amortize/model/param_store.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <memory>

namespace amortize::pavi {

ModelFitResult fit_model(const Hierarchy& h, const GreFitOptions& o) {
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  std::unique_ptr<PaviGuide> pavi;
  std::shared_ptr<infer::AutoNormal> mean_field;
  infer::Program guide;
  if (o.method == GreMethod::Pavi) {
    PaviOptions po = pavi_options(o, Tensor(), 1);
    po.batch_size = h.batches;
    po.element_data.clear();
    if (o.encoding == Encoding::Set) po.element_data = h.element_data;
    pavi = std::make_unique<PaviGuide>(h.model, po);
    guide = pavi->program();
  } else {
    mean_field = std::make_shared<infer::AutoNormal>(h.model);
    for (const auto& [plate, batch] : h.batches) mean_field->set_subsample_size(plate, batch);
    guide = mean_field->program();
  }
  ModelFitResult r;
  static_cast<TrainingTrace&>(r) = train(h.model, guide, pavi.get(), o);
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t draws = std::max<int64_t>(o.draws, 4000);
  if (pavi) {
    r.n_parameters = pavi->n_parameters();
    r.latent_dims = pavi->latent_dim();
    for (const auto& site : h.global_sites) {
      auto m = pavi->moments(site, draws, o.chunk, o.seed + 1);
      r.globals.push_back({site, m.mean, m.sd});
    }
  } else {
    for (const auto& name : store.names()) r.n_parameters += store.entry(name).unconstrained.numel();
    r.latent_dims = mean_field->latent_dim();
    // Constrained moments from draws of the site's unconstrained normal.
    auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed + 1);
    for (const auto& site : h.global_sites) {
      at::NoGradGuard no_grad;
      const auto& sites = mean_field->latent_sites();
      auto it = std::find_if(sites.begin(), sites.end(), [&](const auto& s) { return s.name == site; });
      auto [loc, scale] = mean_field->loc_scale(site);
      Shape shape{draws};
      shape.insert(shape.end(), loc.sizes().begin(), loc.sizes().end());
      Tensor z = loc.detach() + scale.detach() * at::randn(shape, gen, loc.options());
      Tensor v = it->transform->forward(z).to(at::kDouble);
      r.globals.push_back({site, v.mean(0), v.std(0)});
    }
  }
  r.moments_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (o.elbo_particles > 0) {
    r.final_guide = pavi ? population_elbo(h.model, *pavi, o.elbo_particles, o.chunk, o.seed + 3)
                         : population_elbo(h.model, *mean_field, o.elbo_particles, o.chunk, o.seed + 3);
  }
  r.peak_rss_mb = io::peak_rss_mb();
  return r;
}

}  // namespace amortize::pavi
