#include "amortize/infer/guides/auto_continuous.hpp"

#include "amortize/dist/multivariate/low_rank_multivariate_normal.hpp"
#include "amortize/dist/multivariate/multivariate_normal.hpp"
#include "amortize/infer/guides/sticking_the_landing.hpp"
#include "amortize/model/param_store.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

namespace amortize::infer {

Tensor AutoContinuous::initial_loc() const {
  std::vector<Tensor> parts;
  for (const auto& s : sites_) {
    if (s.subsampled()) {
      throw model::ModelError(prefix_ + ": site '" + s.name + "' is in a subsampled plate; use AutoNormal for local latents");
    }
    parts.push_back(s.init_unconstrained.reshape(-1));
  }
  if (parts.empty()) throw model::ModelError(prefix_ + ": the model has no latent sites");
  return at::cat(parts);
}

Tensor AutoContinuous::unpack(const Tensor& z, const LatentSite& site, int64_t offset) const {
  Tensor part = z.narrow(-1, offset, site.numel());
  Shape shape;
  if (z.dim() > 1) {
    // With particles z is (K, 1, ..., 1, D): K, then one singleton per plate slot the site lacks.
    const int64_t nesting = z.dim() - 2;
    const int64_t site_batch = static_cast<int64_t>(site.unconstrained_shape.size()) - site.transform->domain_event_dim();
    shape.push_back(z.size(0));
    for (int64_t i = site_batch; i < nesting; ++i) shape.push_back(1);
  }
  shape.insert(shape.end(), site.unconstrained_shape.begin(), site.unconstrained_shape.end());
  return part.reshape(shape);
}

Tensor AutoContinuous::sample_joint() {
  dist::DistPtr q = latent_distribution(false);
  if (sticking_the_landing_) q = std::make_shared<StickingTheLanding>(q, latent_distribution(true));
  return model::sample("_" + prefix_ + "_latent", *q);
}

void AutoContinuous::sample_latents() {
  Tensor z = sample_joint();
  int64_t offset = 0;
  for (const auto& s : sites_) {
    auto plates = enter_plates(s);
    emit(s, unpack(z, s, offset), s.transform->domain_event_dim());
    offset += s.numel();
  }
}

std::map<std::string, Tensor> AutoContinuous::median() {
  setup();
  at::NoGradGuard no_grad;
  Tensor loc = loc_covariance().first;
  std::map<std::string, Tensor> out;
  int64_t offset = 0;
  for (const auto& s : sites_) {
    out[s.name] = s.transform->forward(unpack(loc, s, offset));
    offset += s.numel();
  }
  return out;
}

AutoMultivariateNormal::AutoMultivariateNormal(Program model, InitStrategy init, double init_scale, std::string prefix)
    : AutoContinuous(std::move(model), std::move(prefix), std::move(init), init_scale) {}

void AutoMultivariateNormal::create_params() {
  Tensor loc = initial_loc();
  make_param("loc", loc);
  make_param("scale_tril", init_scale_ * at::eye(loc.size(0), loc.options()), dist::constraints::lower_cholesky());
}

dist::DistPtr AutoMultivariateNormal::latent_distribution(bool detach_params) {
  Tensor loc = make_param("loc", {});
  Tensor scale_tril = make_param("scale_tril", {}, dist::constraints::lower_cholesky());
  if (detach_params) return std::make_shared<dist::MultivariateNormal>(loc.detach(), scale_tril.detach());
  return std::make_shared<dist::MultivariateNormal>(loc, scale_tril);
}

std::pair<Tensor, Tensor> AutoMultivariateNormal::loc_covariance() {
  setup();
  auto& store = model::active_param_store();
  Tensor l = store.constrained(prefix_ + ".scale_tril");
  return {store.constrained(prefix_ + ".loc"), at::matmul(l, l.transpose(-1, -2))};
}

AutoLowRankMultivariateNormal::AutoLowRankMultivariateNormal(Program model, int64_t rank, InitStrategy init,
                                                             double init_scale, std::string prefix)
    : AutoContinuous(std::move(model), std::move(prefix), std::move(init), init_scale), rank_(rank) {}

void AutoLowRankMultivariateNormal::create_params() {
  Tensor loc = initial_loc();
  const int64_t d = loc.size(0);
  if (rank_ <= 0) rank_ = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(d))));
  make_param("loc", loc);
  // A small random factor breaks the symmetry between its columns (zero would stay zero).
  auto gen = at::make_generator<at::CPUGeneratorImpl>(0);
  make_param("cov_factor", at::randn({d, rank_}, gen, loc.options()) * (init_scale_ / std::sqrt(double(rank_)) * 0.1));
  make_param("cov_diag", at::full({d}, init_scale_ * init_scale_, loc.options()), dist::constraints::positive());
}

dist::DistPtr AutoLowRankMultivariateNormal::latent_distribution(bool detach_params) {
  Tensor loc = make_param("loc", {});
  Tensor factor = make_param("cov_factor", {});
  Tensor diag = make_param("cov_diag", {}, dist::constraints::positive());
  if (detach_params) return std::make_shared<dist::LowRankMultivariateNormal>(loc.detach(), factor.detach(), diag.detach());
  return std::make_shared<dist::LowRankMultivariateNormal>(loc, factor, diag);
}

std::pair<Tensor, Tensor> AutoLowRankMultivariateNormal::loc_covariance() {
  setup();
  auto& store = model::active_param_store();
  Tensor w = store.constrained(prefix_ + ".cov_factor");
  Tensor cov = at::matmul(w, w.transpose(-1, -2)) + at::diag_embed(store.constrained(prefix_ + ".cov_diag"));
  return {store.constrained(prefix_ + ".loc"), cov};
}

}  // namespace amortize::infer
