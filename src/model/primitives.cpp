#include "amortize/model/primitives.hpp"

#include <algorithm>

namespace amortize::model {
namespace {
thread_local std::vector<const Plate*> t_active_plates;

int64_t first_free_dim() {
  int64_t dim = -1;
  while (std::any_of(t_active_plates.begin(), t_active_plates.end(), [&](const Plate* p) { return p->dim() == dim; })) {
    --dim;
  }
  return dim;
}

void require_active(const std::string& site, const Plate& p) {
  if (std::find(t_active_plates.begin(), t_active_plates.end(), &p) == t_active_plates.end()) {
    throw ModelError("site '" + site + "': plate '" + p.name() + "' is not active on this thread");
  }
}

// Broadcasts the site's distribution so that its batch dimension `frame.dim` has the plate's size.
void expand_to_plate(Message& msg, const PlateFrame& frame) {
  Shape batch = msg.dist->batch_shape();
  const auto needed = static_cast<size_t>(-frame.dim);
  if (batch.size() < needed) batch.insert(batch.begin(), needed - batch.size(), 1);
  int64_t& extent = batch[batch.size() + frame.dim];
  if (extent == frame.subsample_size) {
    if (batch == msg.dist->batch_shape()) return;
  } else if (extent == 1) {
    extent = frame.subsample_size;
  } else {
    throw ModelError("site '" + msg.name + "': batch shape " + dist::shape_string(msg.dist->batch_shape()) +
                     " does not fit plate '" + frame.name + "' of size " + std::to_string(frame.subsample_size) +
                     " at dim " + std::to_string(frame.dim));
  }
  msg.dist = msg.dist->expand(batch);
}

Tensor sample_site(const std::string& name, const dist::Distribution& d, const Tensor& obs) {
  Message msg;
  msg.kind = SiteKind::Sample;
  msg.name = name;
  msg.dist = d.clone();
  msg.value = obs;
  msg.observed = obs.defined();
  return apply_stack(msg);
}
}  // namespace

Plate::Plate(std::string name, int64_t size, Options options) {
  if (size <= 0) throw ModelError("plate '" + name + "': size must be positive, got " + std::to_string(size));
  frame_.name = std::move(name);
  frame_.size = size;
  frame_.dim = options.dim.value_or(first_free_dim());
  if (frame_.dim >= 0) throw ModelError("plate '" + frame_.name + "': dim must be negative");
  for (const Plate* p : t_active_plates) {
    if (p->dim() == frame_.dim) {
      throw ModelError("plate '" + frame_.name + "': dim " + std::to_string(frame_.dim) +
                       " is already used by plate '" + p->name() + "'");
    }
  }
  // Explicit indices may repeat an element (a draw with replacement keeps the scaling unbiased).
  if (options.indices.defined() && options.record) {
    check_subsample_indices("plate '" + frame_.name + "': indices", options.indices, size, /*distinct=*/false);
  }
  frame_.subsample_size = options.indices.defined() ? options.indices.numel() : options.subsample_size.value_or(size);
  if (frame_.subsample_size <= 0 || frame_.subsample_size > size) {
    throw ModelError("plate '" + frame_.name + "': subsample size " + std::to_string(frame_.subsample_size) +
                     " must be in [1, " + std::to_string(size) + "]");
  }
  if (options.record) {
    Message msg;
    msg.kind = SiteKind::Plate;
    msg.name = frame_.name;
    msg.value = options.indices;
    msg.plates.push_back(frame_);
    frame_.indices = apply_stack(msg);
    // A replayed plate takes the batch of the run it replays, whatever size was asked here.
    frame_.subsample_size = frame_.indices.numel();
  } else {
    if (!options.indices.defined()) throw ModelError("plate '" + frame_.name + "': re-entering needs its indices");
    frame_.indices = options.indices;
  }
  t_active_plates.push_back(this);
}

void check_subsample_indices(const std::string& where, const Tensor& indices, int64_t size, bool distinct) {
  if (!indices.defined() || indices.dim() != 1 || indices.numel() < 1 || indices.scalar_type() != at::kLong) {
    throw ModelError(where + " must be a non-empty 1-D long tensor");
  }
  int64_t first = 0, last = 0;
  bool repeated = false;
  if (indices.device().is_cpu()) {  // plain loops: models pass a batch's indices every step
    const Tensor contiguous = indices.contiguous();
    std::vector<int64_t> sorted(contiguous.data_ptr<int64_t>(), contiguous.data_ptr<int64_t>() + contiguous.numel());
    std::sort(sorted.begin(), sorted.end());
    first = sorted.front();
    last = sorted.back();
    repeated = std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end();
  } else {
    const Tensor sorted = std::get<0>(indices.sort());
    first = sorted[0].item<int64_t>();
    last = sorted[-1].item<int64_t>();
    repeated = sorted.numel() > 1 && sorted.slice(0, 1).eq(sorted.slice(0, 0, -1)).any().item<bool>();
  }
  if (first < 0 || last >= size) {
    throw ModelError(where + " must lie in 0.." + std::to_string(size - 1) + ", got " +
                     std::to_string(first < 0 ? first : last));
  }
  if (distinct && repeated) throw ModelError(where + " must be distinct (an element given twice would count twice)");
}

Plate::~Plate() {
  auto it = std::find(t_active_plates.begin(), t_active_plates.end(), this);
  if (it != t_active_plates.end()) t_active_plates.erase(it);
}

void Plate::process(Message& msg) {
  if (msg.kind == SiteKind::Plate || msg.kind == SiteKind::Param) return;
  for (const auto& f : msg.plates) {
    if (f.name == frame_.name) return;
  }
  msg.plates.push_back(frame_);
  if (msg.kind == SiteKind::Deterministic) return;
  msg.scale *= frame_.scale();
  if (msg.kind == SiteKind::Sample) expand_to_plate(msg, frame_);
}

Plate plate(const std::string& name, int64_t size) { return Plate(name, size, {}); }
Plate plate(const std::string& name, int64_t size, int64_t subsample_size) {
  return Plate(name, size, {subsample_size, {}, {}, true});
}
Plate plate(const std::string& name, int64_t size, const Tensor& indices) {
  return Plate(name, size, {std::nullopt, indices, {}, true});
}
Plate plate(const std::string& name, int64_t size, Plate::Options options) {
  return Plate(name, size, std::move(options));
}

Tensor sample(const std::string& name, const dist::Distribution& d, const Tensor& obs) {
  return sample_site(name, d, obs);
}

Tensor sample(const std::string& name, const dist::Distribution& d, const Plate& in, const Tensor& obs) {
  require_active(name, in);
  return sample_site(name, d, obs);
}

Tensor sample(const std::string& name, const dist::Distribution& d, const PlateList& in, const Tensor& obs) {
  for (const Plate* p : in) require_active(name, *p);
  return sample_site(name, d, obs);
}

Tensor param(const std::string& name, const Tensor& init, const dist::Constraint& constraint) {
  Message msg;
  msg.kind = SiteKind::Param;
  msg.name = name;
  msg.init = init;
  msg.constraint = constraint;
  return apply_stack(msg);
}

Tensor deterministic(const std::string& name, const Tensor& value) {
  Message msg;
  msg.kind = SiteKind::Deterministic;
  msg.name = name;
  msg.value = value;
  return apply_stack(msg);
}

void factor(const std::string& name, const Tensor& log_weight) {
  Message msg;
  msg.kind = SiteKind::Factor;
  msg.name = name;
  msg.value = log_weight;
  apply_stack(msg);
}

}  // namespace amortize::model
