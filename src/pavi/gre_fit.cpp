#include "amortize/pavi/gre_fit.hpp"

#include "amortize/infer/elbo.hpp"
#include "amortize/infer/guides/auto_normal.hpp"
#include "amortize/model/param_store.hpp"
#include "amortize/pavi/training.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

namespace amortize::pavi {

std::string to_string(GreMethod method, Encoding encoding) {
  if (method == GreMethod::MeanField) return "mean-field";
  if (encoding == Encoding::Unshared) return "flow";
  return encoding == Encoding::Free ? "pavi-f" : "pavi-e";
}

PaviOptions pavi_options(const GreFitOptions& o, const Tensor& data, int64_t batch) {
  PaviOptions po;
  po.encoding = o.encoding;
  po.encoding_dim = o.encoding_dim;
  po.flow.hidden = o.hidden;
  po.set_encoder.hidden = o.hidden;
  po.set_encoder.kind = o.set_encoder;
  po.batch_size["groups"] = batch;
  if (o.encoding == Encoding::Set) po.element_data["groups"] = data;
  po.seed = o.seed;
  po.reshuffle = o.reshuffle;
  po.antithetic = o.antithetic;
  return po;
}

GreFitResult fit_gre(const GreData& data, const GreFitOptions& o) {
  if (o.steps < 1) throw std::invalid_argument("fit_gre: steps must be at least 1");
  const int64_t groups = data.x.size(0);
  const int64_t batch = std::min(o.batch, groups);
  if (batch < 1) throw std::invalid_argument("fit_gre: batch must be at least 1");
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  infer::Program model = [&] { GreModel(data.x, batch)(); };
  std::unique_ptr<PaviGuide> pavi;
  std::shared_ptr<infer::AutoNormal> mean_field;
  infer::Program guide;
  if (o.method == GreMethod::Pavi) {
    pavi = std::make_unique<PaviGuide>(model, pavi_options(o, data.x, batch));
    guide = pavi->program();
  } else {
    mean_field = std::make_shared<infer::AutoNormal>(model);
    mean_field->set_subsample_size("groups", batch);
    guide = mean_field->program();
  }
  GreFitResult r;
  static_cast<TrainingTrace&>(r) = train(model, guide, pavi.get(), o);

  const int64_t evaluated = o.evaluate_groups > 0 ? std::min(o.evaluate_groups, groups) : groups;
  const auto t_moments = std::chrono::steady_clock::now();
  if (pavi) {
    r.n_parameters = pavi->n_parameters();
    r.latent_dims = pavi->latent_dim();
    // The global mean gets enough draws for a Monte-Carlo error of 1.6 % of its sd.
    auto mu = pavi->moments("mu", std::max<int64_t>(o.draws, 4000), o.chunk, o.seed + 1);
    r.fitted.mu_mean = mu.mean;
    r.fitted.mu_sd = mu.sd;
    auto mg = pavi->moments("mu_g", o.draws, o.chunk, o.seed + 2, evaluated);
    r.fitted.mu_g_mean = mg.mean;
    r.fitted.mu_g_sd = mg.sd;
  } else {
    r.n_parameters = 0;
    for (const auto& name : store.names()) r.n_parameters += store.entry(name).unconstrained.numel();
    r.latent_dims = mean_field->latent_dim();
    auto [mu_loc, mu_scale] = mean_field->loc_scale("mu");
    auto [g_loc, g_scale] = mean_field->loc_scale("mu_g");
    r.fitted.mu_mean = mu_loc.detach().to(at::kDouble);
    r.fitted.mu_sd = mu_scale.detach().to(at::kDouble);
    r.fitted.mu_g_mean = g_loc.detach().narrow(0, 0, evaluated).to(at::kDouble);
    r.fitted.mu_g_sd = g_scale.detach().narrow(0, 0, evaluated).to(at::kDouble);
  }
  r.moments_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_moments).count();
  if (o.elbo_particles > 0) {
    r.final_guide = pavi ? population_elbo(model, *pavi, o.elbo_particles, o.chunk, o.seed + 3)
                         : population_elbo(model, *mean_field, o.elbo_particles, o.chunk, o.seed + 3);
  }
  const GrePosterior exact = gre_exact_posterior(data.x, {}, evaluated);
  r.mu_mean_error_sd = ((r.fitted.mu_mean - exact.mu_mean) / exact.mu_sd).abs().max().item<double>();
  r.mu_sd_rel_error = (r.fitted.mu_sd / exact.mu_sd - 1).abs().max().item<double>();
  Tensor g_err = ((r.fitted.mu_g_mean - exact.mu_g_mean) / exact.mu_g_sd).abs();
  r.mu_g_mean_error_sd_mean = g_err.mean().item<double>();
  r.mu_g_mean_error_sd_max = g_err.max().item<double>();
  r.mu_g_sd_rel_error_mean = (r.fitted.mu_g_sd / exact.mu_g_sd - 1).abs().mean().item<double>();
  r.peak_rss_mb = io::peak_rss_mb();
  return r;
}

}  // namespace amortize::pavi
