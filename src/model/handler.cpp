#include "amortize/model/handler.hpp"

#include "amortize/dist/tensor_args.hpp"
#include "amortize/model/param_store.hpp"

#include <ATen/InferSize.h>

#include <unordered_map>
#include <vector>

namespace amortize::model {
namespace {
thread_local std::vector<Handler*> t_stack;

std::string site_error(const Message& msg, const std::string& what) { return "site '" + msg.name + "': " + what; }

// A value must fit its distribution's shape and, dimension by dimension, its plates.
void check_value_shape(const Message& msg) {
  const auto& d = *msg.dist;
  const int64_t event_dim = d.event_dim();
  const auto& v = msg.value;
  if (v.dim() < event_dim) {
    throw ModelError(site_error(msg, "value of shape " + dist::shape_string(v.sizes()) + " has fewer dims than the event shape " +
                                         dist::shape_string(d.event_shape())));
  }
  const int64_t batch_dims = v.dim() - event_dim;
  for (const auto& frame : msg.plates) {
    const int64_t pos = batch_dims + frame.dim;
    if (pos < 0) continue;
    const int64_t have = v.size(pos);
    if (have != 1 && have != frame.subsample_size) {
      throw ModelError(site_error(msg, "value of shape " + dist::shape_string(v.sizes()) + " does not fit plate '" +
                                           frame.name + "' of size " + std::to_string(frame.subsample_size) +
                                           " at dim " + std::to_string(frame.dim)));
    }
  }
  try {
    at::infer_size(v.sizes().slice(0, batch_dims), d.batch_shape());
  } catch (const c10::Error&) {
    throw ModelError(site_error(msg, "value of shape " + dist::shape_string(v.sizes()) +
                                         " does not broadcast with the distribution's batch shape " +
                                         dist::shape_string(d.batch_shape())));
  }
}

void default_sample(Message& msg) {
  if (!msg.value.defined()) {
    msg.value = msg.dist->has_rsample() ? msg.dist->rsample({}, msg.generator) : msg.dist->sample({}, msg.generator);
    return;
  }
  check_value_shape(msg);
  if (msg.observed && dist::validation_enabled()) {
    auto inside = msg.dist->support().check(msg.value.detach());
    if (!inside.all().item<bool>()) {
      throw ModelError(site_error(msg, "observed value outside the support " + msg.dist->support().name()));
    }
  }
}

// The indices of a plate that is not subsampled, arange(size), made once per size and thread
// (a plate is entered on every run of a model; indices are never written to).
const Tensor& all_indices(int64_t size) {
  thread_local std::unordered_map<int64_t, Tensor> cache;
  Tensor& indices = cache[size];
  if (!indices.defined()) indices = at::arange(size, at::TensorOptions().dtype(at::kLong));
  return indices;
}

void default_plate(Message& msg) {
  if (msg.value.defined()) return;
  const auto& frame = msg.plates.back();
  auto options = at::TensorOptions().dtype(at::kLong);
  msg.value = frame.subsample_size == frame.size ? all_indices(frame.size)
                                                 : at::randperm(frame.size, msg.generator, options).narrow(0, 0, frame.subsample_size);
}

void default_effect(Message& msg) {
  switch (msg.kind) {
    case SiteKind::Sample: default_sample(msg); break;
    case SiteKind::Param:
      if (!msg.value.defined()) msg.value = active_param_store().get_or_create(msg.name, msg.init, msg.constraint);
      break;
    case SiteKind::Plate: default_plate(msg); break;
    case SiteKind::Deterministic:
    case SiteKind::Factor: break;
  }
}
}  // namespace

Handler::Handler() { t_stack.push_back(this); }

Handler::~Handler() {
  // Handlers are scopes, so they leave in reverse order; tolerate out-of-order exits anyway.
  for (auto it = t_stack.rbegin(); it != t_stack.rend(); ++it) {
    if (*it == this) {
      t_stack.erase(std::next(it).base());
      break;
    }
  }
}

size_t handler_depth() { return t_stack.size(); }

Tensor apply_stack(Message& msg) {
  // Innermost handler first; a handler that sets `stop` hides the message from those outside.
  size_t reached = 0;
  for (size_t i = t_stack.size(); i-- > 0;) {
    reached = i;
    t_stack[i]->process(msg);
    if (msg.stop) break;
  }
  default_effect(msg);
  for (size_t i = reached; i < t_stack.size(); ++i) t_stack[i]->postprocess(msg);
  return msg.value;
}

}  // namespace amortize::model
