#include "amortize/infer/guides/auto_guide.hpp"

#include "amortize/dist/continuous/delta.hpp"
#include "amortize/dist/transforms/biject_to.hpp"
#include "amortize/dist/transforms/identity_transform.hpp"
#include "amortize/model/handlers.hpp"
#include "amortize/model/param_store.hpp"

#include <algorithm>
#include <numeric>

namespace amortize::infer {

int64_t LatentSite::numel() const {
  return std::accumulate(unconstrained_shape.begin(), unconstrained_shape.end(), int64_t{1}, std::multiplies<>());
}

bool LatentSite::subsampled() const {
  return std::any_of(plates.begin(), plates.end(), [](const auto& f) { return f.subsample_size < f.size; });
}

AutoGuide::AutoGuide(Program model, std::string prefix, InitStrategy init, double init_scale)
    : model_(std::move(model)), prefix_(std::move(prefix)), init_(std::move(init)), init_scale_(init_scale) {
  if (!(init_scale > 0)) throw std::invalid_argument(prefix_ + ": init_scale must be positive");
}

namespace {
// Runs every plate at full size, remembering the batch size the model asked for, so that
// local latents of subsampled plates get full-size parameters.
class FullPlates : public model::Handler {
 public:
  void process(model::Message& msg) override {
    if (msg.kind != model::SiteKind::Plate || msg.value.defined()) return;
    const auto& frame = msg.plates.front();
    requested[frame.name] = frame.subsample_size;
    msg.value = at::arange(frame.size, at::TensorOptions().dtype(at::kLong));
  }
  std::map<std::string, int64_t> requested;
};
}  // namespace

void AutoGuide::setup() {
  if (ready_) return;
  model::Trace prototype;
  std::map<std::string, int64_t> requested_batch;
  {
    // The prototype run is private: outer traces, plates and particles must not see it.
    model::BlockHandler block;
    model::TraceHandler tracer;
    InitHandler init(init_);
    model::SeedHandler seed(0);  // inside InitHandler, so that its draws use this generator
    FullPlates full_plates;
    model_();
    prototype = std::move(tracer.trace());
    requested_batch = std::move(full_plates.requested);
  }
  auto with_requested_batch = [&](model::PlateFrame frame) {
    auto it = requested_batch.find(frame.name);
    if (it != requested_batch.end()) frame.subsample_size = it->second;
    return frame;
  };
  for (const auto& s : prototype.sites()) {
    if (s.kind == model::SiteKind::Plate) {
      plate_frames_.push_back(with_requested_batch(s.plates.front()));
      continue;
    }
    if (!s.is_latent()) continue;
    if (s.dist->is_discrete()) {
      throw model::ModelError(prefix_ + ": site '" + s.name + "' is discrete; automatic guides need continuous latents");
    }
    LatentSite site;
    site.name = s.name;
    site.prior = s.dist;
    site.transform = dist::biject_to(s.dist->support());
    site.shape = dist::to_shape(s.value.sizes());
    site.init_unconstrained = site.transform->inverse(s.value.detach()).detach();
    site.unconstrained_shape = dist::to_shape(site.init_unconstrained.sizes());
    for (const auto& f : s.plates) site.plates.push_back(with_requested_batch(f));
    for (const auto& f : s.plates) site.plate_depth = std::max(site.plate_depth, -f.dim);
    sites_.push_back(std::move(site));
  }
  // Only the plates of the guide's own sites: another guide may own the rest.
  auto used = [&](const model::PlateFrame& frame) {
    return std::any_of(sites_.begin(), sites_.end(), [&](const LatentSite& s) {
      return std::any_of(s.plates.begin(), s.plates.end(), [&](const auto& f) { return f.name == frame.name; });
    });
  };
  plate_frames_.erase(std::remove_if(plate_frames_.begin(), plate_frames_.end(), [&](const auto& f) { return !used(f); }),
                      plate_frames_.end());
  ready_ = true;
  model::BlockHandler hide_creation;
  create_params();
}

const std::vector<LatentSite>& AutoGuide::latent_sites() {
  setup();
  return sites_;
}

int64_t AutoGuide::latent_dim() {
  setup();
  int64_t d = 0;
  for (const auto& s : sites_) d += s.numel();
  return d;
}

void AutoGuide::operator()() {
  setup();
  plate_indices_.clear();
  for (const auto& frame : plate_frames_) {
    auto fixed = fixed_indices_.find(frame.name);
    model::Plate p = fixed == fixed_indices_.end()
                         ? model::Plate(frame.name, frame.size, {frame.subsample_size, {}, frame.dim, true})
                         : model::Plate(frame.name, frame.size, {std::nullopt, fixed->second, frame.dim, true});
    plate_indices_[frame.name] = p.indices();
  }
  sample_latents();
}

void AutoGuide::set_subsample_size(const std::string& plate, int64_t size) {
  setup();
  for (auto& frame : plate_frames_) {
    if (frame.name != plate) continue;
    if (size < 1 || size > frame.size) {
      throw model::ModelError(prefix_ + ": subsample size " + std::to_string(size) + " of plate '" + plate +
                              "' is outside 1.." + std::to_string(frame.size));
    }
    frame.subsample_size = size;
    return;
  }
  throw model::ModelError(prefix_ + ": no plate named '" + plate + "' holds a latent site of this guide");
}

void AutoGuide::fix_indices(const std::string& plate, const Tensor& indices) {
  setup();
  auto frame = std::find_if(plate_frames_.begin(), plate_frames_.end(), [&](const auto& f) { return f.name == plate; });
  if (frame == plate_frames_.end()) {
    throw model::ModelError(prefix_ + ": no plate named '" + plate + "' holds a latent site of this guide");
  }
  model::check_subsample_indices(prefix_ + ": fixed indices of plate '" + plate + "'", indices, frame->size);
  fixed_indices_[plate] = indices;
}

const std::vector<model::PlateFrame>& AutoGuide::plate_frames() {
  setup();
  return plate_frames_;
}

Program AutoGuide::program() {
  return [this] { (*this)(); };
}

std::vector<std::unique_ptr<model::Plate>> AutoGuide::enter_plates(const LatentSite& site) const {
  std::vector<std::unique_ptr<model::Plate>> plates;
  for (const auto& f : site.plates) {
    plates.push_back(std::make_unique<model::Plate>(
        f.name, f.size, model::Plate::Options{std::nullopt, plate_indices_.at(f.name), f.dim, false}));
  }
  return plates;
}

Tensor AutoGuide::subsample(const Tensor& full, const LatentSite& site, int64_t event_dims) const {
  Tensor out = full;
  const int64_t batch_dims = full.dim() - event_dims;
  for (const auto& f : site.plates) {
    if (f.subsample_size == f.size && !fixed_indices_.count(f.name)) continue;
    const int64_t pos = batch_dims + f.dim;
    if (pos >= 0 && out.size(pos) == f.size) out = out.index_select(pos, plate_indices_.at(f.name).to(full.device()));
  }
  return out;
}

void AutoGuide::emit(const LatentSite& site, const Tensor& z, int64_t guide_event_dims) const {
  Tensor value = model::constrain(*site.transform, z);
  const int64_t batch_dims = z.dim() - guide_event_dims;
  const int64_t event_dims = value.dim() - batch_dims;
  // Real-valued sites: no Jacobian, and no zeros to negate on every step.
  if (dynamic_cast<const dist::IdentityTransform*>(site.transform.get())) {
    model::sample(site.name, dist::Delta(value, 0.0, event_dims));
    return;
  }
  Tensor log_det = site.transform->log_abs_det_jacobian(z, value);
  model::sample(site.name, dist::Delta(value, -log_det, event_dims));
}

Tensor AutoGuide::make_param(const std::string& name, const Tensor& init, const dist::Constraint& c) const {
  return model::param(prefix_ + "." + name, init, c);
}

}  // namespace amortize::infer
