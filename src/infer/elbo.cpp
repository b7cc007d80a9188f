#include "amortize/infer/elbo.hpp"

#include "amortize/dist/kl/kl_divergence.hpp"
#include "amortize/dist/validation.hpp"
#include "amortize/infer/fused_log_density.hpp"
#include "amortize/model/handlers.hpp"
#include "amortize/model/primitives.hpp"

#include <cmath>
#include <memory>

namespace amortize::infer {
namespace {
using model::Site;
using model::SiteKind;

bool has_density(const Site& s) { return s.kind == SiteKind::Sample || s.kind == SiteKind::Factor; }

int64_t batch_depth(const model::Trace& trace) {
  int64_t depth = 0;
  for (const auto& s : trace.sites()) {
    for (const auto& f : s.plates) depth = std::max(depth, -f.dim);
    if (s.kind == SiteKind::Sample) depth = std::max(depth, s.value.dim() - s.dist->event_dim());
  }
  return depth;
}

model::Trace traced(const Program& program, const model::Trace* replay, const std::string& particle_plate,
                    int64_t particles, int64_t particle_dim) {
  model::TraceHandler tracer;
  std::unique_ptr<model::ReplayHandler> replayer;
  if (replay) replayer = std::make_unique<model::ReplayHandler>(*replay);
  std::unique_ptr<model::Plate> plate;
  if (particles > 1) plate = std::make_unique<model::Plate>(particle_plate, particles, model::Plate::Options{std::nullopt, {}, particle_dim, true});
  program();
  plate.reset();
  replayer.reset();
  return std::move(tracer.trace());
}
}  // namespace

Elbo::Traces Elbo::run(const Program& model, const Program& guide) {
  if (options_.num_particles < 1) {
    throw std::invalid_argument("ELBO: num_particles must be at least 1, got " + std::to_string(options_.num_particles));
  }
  if (options_.max_plate_nesting < 0) {
    auto g = traced(guide, nullptr, "", 1, 0);
    auto m = traced(model, &g, "", 1, 0);
    options_.max_plate_nesting = std::max(batch_depth(g), batch_depth(m));
  }
  particle_dim_ = -(options_.max_plate_nesting + 1);
  Traces out;
  out.guide = traced(guide, nullptr, "_particles", options_.num_particles, particle_dim_);
  out.model = traced(model, &out.guide, "_particles", options_.num_particles, particle_dim_);
  return out;
}

Tensor Elbo::per_particle(const Tensor& log_prob, double scale) const {
  const int64_t k = options_.num_particles;
  // Unscaled sites (most of them) skip the multiplication: every dispatch counts in a small model.
  auto scaled = [scale](const Tensor& t) { return scale == 1.0 ? t : t * scale; };
  if (k == 1) return scaled(log_prob.sum()).reshape({1});
  const int64_t pos = log_prob.dim() + particle_dim_;
  if (pos >= 0 && log_prob.size(pos) == k) return scaled(log_prob.movedim(pos, 0).reshape({k, -1}).sum(1));
  return scaled(log_prob.sum()).expand({k});
}

namespace {
// A log-density with dims left of the particle dim would be summed across particles.
void check_particle_layout(const Site& site, at::IntArrayRef log_prob_shape, int64_t particle_dim, int64_t particles) {
  const int64_t pos = static_cast<int64_t>(log_prob_shape.size()) + particle_dim;
  const bool too_deep = pos > 0 || (pos == 0 && log_prob_shape[0] != particles && log_prob_shape[0] != 1);
  if (too_deep) {
    throw model::ModelError("site '" + site.name + "': log-density of shape " + dist::shape_string(log_prob_shape) +
                            " has batch dims left of the plates (at most " + std::to_string(-particle_dim - 1) +
                            "); declare them with plates or move them into the event");
  }
}

// The shape site.log_prob() has: the value's batch dims broadcast with the distribution's.
at::DimVector log_prob_shape(const Site& site) {
  const int64_t batch_dims = site.value.dim() - site.dist->event_dim();
  if (batch_dims < 0) return at::DimVector(site.value.sizes().begin(), site.value.sizes().end());
  return at::infer_size_dimvector(site.value.sizes().slice(0, batch_dims), site.dist->batch_shape());
}

// Adds the site's scaled log-density to `fused` when it can take it (no mask; the generic
// log_prob still runs first when validation is on, for its checks). Returns false otherwise.
bool add_fused(FusedLogDensitySum& fused, const Site& site, double sign, int64_t particle_dim, int64_t particles) {
  if (site.kind != SiteKind::Sample || site.mask.defined()) return false;
  if (dist::validation_enabled()) site.log_prob();
  at::DimVector shape;
  try {
    shape = log_prob_shape(site);
  } catch (const c10::Error&) {
    return false;  // the generic path reports it
  }
  check_particle_layout(site, shape, particle_dim, particles);
  return fused.add(*site.dist, site.value, sign * site.scale);
}
}  // namespace

Elbo::ParticleTerms Elbo::particle_terms(const Traces& traces, bool use_analytic_kl) {
  Tensor elbo;
  auto add = [&](const Tensor& term) { elbo = elbo.defined() ? elbo + term : term; };
  std::vector<std::string> kl_sites;
  FusedLogDensitySum fused(options_.num_particles, particle_dim_);
  for (const auto& site : traces.model.sites()) {
    if (!has_density(site)) continue;
    if (site.is_latent()) {
      if (!traces.guide.contains(site.name)) {
        throw model::ModelError("site '" + site.name + "' is latent in the model but the guide has no site of that name");
      }
      const Site& q = traces.guide.at(site.name);
      if (use_analytic_kl && dist::has_kl(*q.dist, *site.dist)) {
        Tensor kl = dist::kl_divergence(*q.dist, *site.dist);
        if (site.mask.defined()) kl = at::where(site.mask, kl, at::zeros_like(kl));
        add(-per_particle(kl, site.scale));
        kl_sites.push_back(site.name);
        continue;
      }
    }
    if (add_fused(fused, site, 1.0, particle_dim_, options_.num_particles)) continue;
    Tensor log_prob = site.log_prob();
    check_particle_layout(site, log_prob.sizes(), particle_dim_, options_.num_particles);
    add(per_particle(log_prob, site.scale));
  }
  std::vector<std::pair<std::string, Tensor>> score_sites;
  for (const auto& site : traces.guide.sites()) {
    if (site.kind != SiteKind::Sample || site.observed) continue;
    if (std::find(kl_sites.begin(), kl_sites.end(), site.name) != kl_sites.end()) continue;
    // Score-function sites need their own log q; the others can go into the fused sum.
    if (site.dist->has_rsample() && add_fused(fused, site, -1.0, particle_dim_, options_.num_particles)) continue;
    Tensor log_q = site.log_prob();
    check_particle_layout(site, log_q.sizes(), particle_dim_, options_.num_particles);
    Tensor lq = per_particle(log_q, site.scale);
    add(-lq);
    if (!site.dist->has_rsample()) score_sites.emplace_back(site.name, lq);
  }
  if (!fused.empty()) add(fused.sum());
  if (!elbo.defined()) elbo = at::zeros({options_.num_particles});
  // No score-function site: no surrogate (undefined), which saves two operations a step.
  ParticleTerms terms{elbo, Tensor()};
  if (score_sites.empty()) return terms;
  terms.surrogate = at::zeros({}, elbo.options());
  Tensor signal = elbo.detach();
  const double mean_elbo = signal.mean().item<double>();
  for (auto& [name, lq] : score_sites) {
    auto [it, fresh] = baselines_.emplace(name, mean_elbo);
    terms.surrogate = terms.surrogate + (lq * (signal - it->second)).mean();
    it->second = options_.baseline_decay * it->second + (1 - options_.baseline_decay) * mean_elbo;
  }
  return terms;
}

Tensor Elbo::loss(const Program& model, const Program& guide) {
  Traces traces = run(model, guide);
  return combine(particle_terms(traces, analytic_kl()));
}

Tensor TraceElbo::combine(const ParticleTerms& terms) {
  Tensor mean = terms.elbo.mean();
  last_elbo_ = mean.item<double>();
  return terms.surrogate.defined() ? -(mean + terms.surrogate) : -mean;
}

RenyiElbo::RenyiElbo(double alpha, ElboOptions options) : Elbo(options), alpha_(alpha) {
  if (!(alpha >= 0) || alpha == 1.0) {
    throw std::invalid_argument("RenyiElbo: alpha must be >= 0 and != 1 (use TraceElbo for 1), got " +
                                std::to_string(alpha));
  }
}

Tensor RenyiElbo::combine(const ParticleTerms& terms) {
  if (terms.surrogate.defined() && terms.surrogate.requires_grad()) {
    throw std::invalid_argument("RenyiElbo: every guide site must be reparameterisable");
  }
  const double k = static_cast<double>(terms.elbo.size(0));
  Tensor scaled = (1 - alpha_) * terms.elbo;
  Tensor bound = (at::logsumexp(scaled, 0) - std::log(k)) / (1 - alpha_);
  last_elbo_ = bound.item<double>();
  return -bound;
}

}  // namespace amortize::infer
