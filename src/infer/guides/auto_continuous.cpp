#include "amortize/infer/guides/auto_continuous.hpp"

#include "amortize/dist/multivariate/low_rank_multivariate_normal.hpp"
#include "amortize/dist/multivariate/multivariate_normal.hpp"
#include "amortize/infer/guides/split_sites.hpp"
#include "amortize/infer/guides/sticking_the_landing.hpp"
#include "amortize/model/handlers.hpp"
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

Shape AutoContinuous::site_shape(const Tensor& z, const LatentSite& site) const {
  Shape shape;
  if (z.dim() > 1) {
    // With particles z is (K, 1, ..., 1, D): K, then one singleton per plate slot the site lacks.
    const int64_t nesting = z.dim() - 2;
    const int64_t site_batch = static_cast<int64_t>(site.unconstrained_shape.size()) - site.transform->domain_event_dim();
    shape.push_back(z.size(0));
    for (int64_t i = site_batch; i < nesting; ++i) shape.push_back(1);
  }
  shape.insert(shape.end(), site.unconstrained_shape.begin(), site.unconstrained_shape.end());
  return shape;
}

Tensor AutoContinuous::unpack(const Tensor& z, const LatentSite& site, int64_t offset) const {
  return z.narrow(-1, offset, site.numel()).reshape(site_shape(z, site));
}

std::vector<Tensor> AutoContinuous::unpack_all(const Tensor& z) const {
  std::vector<int64_t> sizes;
  std::vector<Shape> shapes;
  for (const auto& s : sites_) {
    sizes.push_back(s.numel());
    shapes.push_back(site_shape(z, s));
  }
  return split_sites(z, sizes, shapes);
}

Tensor AutoContinuous::sample_joint() {
  dist::DistPtr q = latent_distribution(false);
  if (sticking_the_landing_) q = std::make_shared<StickingTheLanding>(q, latent_distribution(true));
  return model::sample("_" + prefix_ + "_latent", *q);
}

void AutoContinuous::sample_latents() {
  const auto pieces = unpack_all(sample_joint());
  for (size_t i = 0; i < sites_.size(); ++i) {
    auto plates = enter_plates(sites_[i]);
    emit(sites_[i], pieces[i], sites_[i].transform->domain_event_dim());
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
  // The fixed frame (not trained; kept in the store so that checkpoints carry it): identity
  // until a Laplace start sets it.
  auto& store = model::active_param_store();
  store.set_unconstrained(prefix_ + ".frame_shift", at::zeros_like(loc));
  store.set_unconstrained(prefix_ + ".frame_tril", at::eye(loc.size(0), loc.options()));
}

bool AutoMultivariateNormal::identity_frame(const Tensor& shift, const Tensor& frame) {
  // Re-checked only when a frame tensor was replaced or written in place (a Laplace start, a
  // checkpoint), which bumps its version: the check's operations stay out of the step.
  const FrameState now{shift.unsafeGetTensorImpl(), frame.unsafeGetTensorImpl(), shift._version(), frame._version(), false};
  if (now.shift != frame_state_.shift || now.frame != frame_state_.frame || now.shift_version != frame_state_.shift_version ||
      now.frame_version != frame_state_.frame_version) {
    at::NoGradGuard no_grad;
    frame_state_ = now;
    frame_state_.identity = !shift.any().item<bool>() && at::equal(frame, at::eye(frame.size(0), frame.options()));
  }
  return frame_state_.identity;
}

std::pair<Tensor, Tensor> AutoMultivariateNormal::joint_loc_scale_tril() {
  Tensor loc = make_param("loc", {});
  Tensor scale_tril = make_param("scale_tril", {}, dist::constraints::lower_cholesky());
  Tensor shift = make_param("frame_shift", {});
  Tensor frame = make_param("frame_tril", {});
  if (identity_frame(shift, frame)) return {loc, scale_tril};
  // A product of lower-triangular matrices with positive diagonals is one (exact zeros above).
  return {at::addmv(shift, frame, loc), at::matmul(frame, scale_tril)};
}

dist::DistPtr AutoMultivariateNormal::latent_distribution(bool detach_params) {
  auto [loc, scale_tril] = joint_loc_scale_tril();
  if (detach_params) return std::make_shared<dist::MultivariateNormal>(loc.detach(), scale_tril.detach());
  return std::make_shared<dist::MultivariateNormal>(loc, scale_tril);
}

std::pair<Tensor, Tensor> AutoMultivariateNormal::loc_covariance() {
  setup();
  model::BlockHandler private_read;
  auto [loc, l] = joint_loc_scale_tril();
  return {loc, at::matmul(l, l.transpose(-1, -2))};
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
