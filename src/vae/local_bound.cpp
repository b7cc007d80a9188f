#include "amortize/vae/local_bound.hpp"

#include "amortize/model/primitives.hpp"

#include <cmath>

namespace amortize::vae {
namespace {

// The site's scale and its log-density as (particles, batch).
Tensor local_log_prob(const model::Site& site, const std::string& plate, int64_t particles, double& scale) {
  const model::PlateFrame* frame = nullptr;
  for (const auto& f : site.plates) {
    if (f.name == plate) frame = &f;
  }
  if (!frame) throw model::ModelError("LocalBound: site '" + site.name + "' is not inside the local plate '" + plate + "'");
  if (frame->dim != -1) {
    throw model::ModelError("LocalBound: plate '" + plate + "' must own the rightmost batch dimension at site '" +
                            site.name + "'");
  }
  if (scale < 0) {
    scale = site.scale;
  } else if (std::abs(site.scale - scale) > 1e-12 * scale) {
    throw model::ModelError("LocalBound: site '" + site.name + "' has scale " + std::to_string(site.scale) +
                            " but others have " + std::to_string(scale));
  }
  Tensor lp = site.log_prob();
  const int64_t batch = frame->subsample_size;
  // One particle: (batch,) as it comes (no reshaping operations in the common case).
  if (particles == 1 && lp.dim() == 1 && lp.size(0) == batch) return lp;
  if (particles == 1 && lp.dim() == 2 && lp.size(0) == 1 && lp.size(1) == batch) return lp[0];
  if (lp.dim() == 1) return lp.unsqueeze(0).expand({particles, batch});
  if (lp.dim() == 2 && lp.size(1) == batch && (lp.size(0) == particles || lp.size(0) == 1)) {
    return lp.expand({particles, batch});
  }
  throw model::ModelError("LocalBound: site '" + site.name + "' has log-density shape " +
                          dist::shape_string(lp.sizes()) + ", expected (particles, batch)");
}

}  // namespace

LocalBound::LocalBound(BoundKind kind, int64_t particles, std::string plate)
    : kind_(kind), particles_(particles), plate_(std::move(plate)), runner_(infer::ElboOptions{particles, 1, 0.9}) {
  if (particles < 1) throw std::invalid_argument("LocalBound: particles must be at least 1, got " + std::to_string(particles));
}

Tensor LocalBound::loss(const infer::Program& model_fn, const infer::Program& guide_fn) {
  auto traces = runner_.run(model_fn, guide_fn);
  // w: the log weights, (batch,) for one particle, else (particles, batch).
  Tensor w;
  double scale = -1.0;
  for (const auto& site : traces.model.sites()) {
    if (site.kind != model::SiteKind::Sample && site.kind != model::SiteKind::Factor) continue;
    const Tensor lp = local_log_prob(site, plate_, particles_, scale);
    w = w.defined() ? w + lp : lp;
  }
  for (const auto& site : traces.guide.sites()) {
    if (site.kind != model::SiteKind::Sample || site.observed) continue;
    if (!site.dist->has_rsample()) {
      throw model::ModelError("LocalBound: guide site '" + site.name + "' is not reparameterisable");
    }
    const Tensor lq = local_log_prob(site, plate_, particles_, scale);
    w = w.defined() ? w - lq : -lq;
  }
  if (!w.defined()) throw model::ModelError("LocalBound: the model has no sample sites");
  Tensor per_datum;
  if (particles_ == 1) {
    per_datum = w;
  } else if (kind_ == BoundKind::Elbo) {
    per_datum = w.mean(0);
  } else {
    per_datum = at::logsumexp(w, 0) - std::log(static_cast<double>(particles_));
  }
  Tensor loss = per_datum.sum() * (-scale);
  last_per_datum_ = per_datum.detach();
  last_loss_ = loss.detach();
  return loss;
}

double LocalBound::last_bound() const { return last_loss_.defined() ? -last_loss_.item<double>() : 0.0; }

}  // namespace amortize::vae
