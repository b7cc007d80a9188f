#include "amortize/infer/optim/optimizer.hpp"

#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <stdexcept>

namespace amortize::infer::optim {
namespace {
std::string slot_key(size_t index, const std::string& what) { return "p" + std::to_string(index) + "_" + what; }
}  // namespace

Optimizer::Optimizer(double learning_rate) : learning_rate_(learning_rate) { set_learning_rate(learning_rate); }

Optimizer::~Optimizer() = default;

void Optimizer::set_learning_rate(double lr) {
  if (!(lr > 0) || !std::isfinite(lr)) {
    throw std::invalid_argument("optimiser: learning rate must be positive and finite, got " + std::to_string(lr));
  }
  learning_rate_ = lr;
}

void Optimizer::add_parameter(const std::string& name, const Tensor& param) {
  if (!param.defined()) throw std::invalid_argument("optimiser: parameter '" + name + "' is undefined");
  auto it = slots_.find(name);
  if (it == slots_.end()) {
    slots_.emplace(name, Slot{param, {}, 0, {}});
    return;
  }
  Slot& slot = it->second;
  if (slot.param.is_same(param)) return;
  const bool same_shape = slot.param.sizes() == param.sizes();
  slot.param = param;
  if (!same_shape) {
    slot.state.clear();
    slot.step = 0;
  }
}

void Optimizer::add_parameters(const std::map<std::string, Tensor>& named) {
  for (const auto& [name, p] : named) add_parameter(name, p);
}

void Optimizer::add_parameters(const std::vector<Tensor>& params) {
  for (size_t i = 0; i < params.size(); ++i) add_parameter(std::to_string(i), params[i]);
}

void Optimizer::set_touched_rows(const std::string& name, const Tensor& rows) {
  auto it = slots_.find(name);
  if (it == slots_.end()) throw std::invalid_argument("optimiser: touched rows for unknown parameter '" + name + "'");
  if (it->second.param.dim() == 0) {
    throw std::invalid_argument("optimiser: touched rows for scalar parameter '" + name + "'");
  }
  if (rows.scalar_type() != at::kLong || rows.dim() != 1) {
    throw std::invalid_argument("optimiser: touched rows of '" + name + "' must be a 1-d int64 tensor");
  }
  it->second.touched_rows = rows.to(it->second.param.device());
}

void Optimizer::init_state(Slot& slot) const {
  slot.state.clear();
  for (size_t i = 0; i < state_names().size(); ++i) slot.state.push_back(at::zeros_like(slot.param.detach()));
}

void Optimizer::prepare_step(std::vector<Tensor>& /*grads*/) {}

void Optimizer::step(double lr_scale) {
  at::NoGradGuard no_grad;
  ++steps_;
  const double lr = step_learning_rate(learning_rate_ * lr_scale);
  std::vector<Slot*> active;
  std::vector<Tensor> grads;
  for (auto& [name, slot] : slots_) {
    Tensor g = slot.param.grad();
    if (!g.defined()) {
      slot.touched_rows = Tensor();
      continue;
    }
    if (g.is_sparse()) {
      if (g.sparse_dim() != 1) {
        throw std::invalid_argument("optimiser: sparse gradient of '" + name + "' must be sparse along dim 0 only");
      }
      g = g.coalesce();
    }
    active.push_back(&slot);
    grads.push_back(std::move(g));
  }
  prepare_step(grads);
  const size_t n_state = state_names().size();
  for (size_t i = 0; i < active.size(); ++i) {
    Slot& slot = *active[i];
    const Tensor& g = grads[i];
    if (slot.state.size() != n_state) init_state(slot);
    Tensor rows;
    Tensor rows_grad;
    if (g.is_sparse()) {
      rows = g._indices().select(0, 0);
      rows_grad = g._values();
    } else if (slot.touched_rows.defined()) {
      rows = slot.touched_rows;
      rows_grad = g.index_select(0, rows);
    }
    slot.touched_rows = Tensor();
    if (rows.defined() && rows.numel() == 0) continue;
    ++slot.step;
    if (!rows.defined()) {
      update(slot.param, g, slot.state, slot.step, lr);
      continue;
    }
    // Gather the touched rows, update them as a dense block, scatter them back.
    Tensor p_rows = slot.param.index_select(0, rows);
    std::vector<Tensor> s_rows;
    s_rows.reserve(slot.state.size());
    for (const auto& s : slot.state) s_rows.push_back(s.index_select(0, rows));
    update(p_rows, rows_grad, s_rows, slot.step, lr);
    slot.param.index_copy_(0, rows, p_rows);
    for (size_t k = 0; k < s_rows.size(); ++k) slot.state[k].index_copy_(0, rows, s_rows[k]);
  }
}

void Optimizer::zero_grad() {
  for (auto& [name, slot] : slots_) {
    if (slot.param.grad().defined()) slot.param.mutable_grad() = Tensor();
  }
}

std::vector<std::string> Optimizer::names() const {
  std::vector<std::string> out;
  for (const auto& [name, slot] : slots_) out.push_back(name);
  return out;
}

std::map<std::string, Tensor> Optimizer::state(const std::string& name) const {
  auto it = slots_.find(name);
  if (it == slots_.end()) throw std::invalid_argument("optimiser: unknown parameter '" + name + "'");
  std::map<std::string, Tensor> out;
  const auto names = state_names();
  for (size_t k = 0; k < it->second.state.size() && k < names.size(); ++k) out[names[k]] = it->second.state[k];
  return out;
}

void Optimizer::save(torch::serialize::OutputArchive& archive) const {
  archive.write("type", c10::IValue(type_name()));
  archive.write("lr", c10::IValue(learning_rate_));
  archive.write("steps", c10::IValue(steps_));
  c10::List<std::string> names;
  size_t index = 0;
  const auto state_keys = state_names();
  for (const auto& [name, slot] : slots_) {
    names.push_back(name);
    archive.write(slot_key(index, "step"), c10::IValue(slot.step));
    for (size_t k = 0; k < slot.state.size(); ++k) {
      archive.write(slot_key(index, state_keys.at(k)), slot.state[k].detach(), /*is_buffer=*/true);
    }
    ++index;
  }
  archive.write("names", c10::IValue(names));
}

void Optimizer::load(torch::serialize::InputArchive& archive) {
  c10::IValue value;
  archive.read("type", value);
  if (value.toStringRef() != type_name()) {
    throw std::runtime_error("optimiser state is for " + value.toStringRef() + ", not " + type_name());
  }
  archive.read("lr", value);
  set_learning_rate(value.toDouble());
  archive.read("steps", value);
  steps_ = value.toInt();
  archive.read("names", value);
  const auto state_keys = state_names();
  size_t index = 0;
  for (const auto& entry : value.toListRef()) {
    const std::string& name = entry.toStringRef();
    auto it = slots_.find(name);
    if (it == slots_.end()) {
      throw std::runtime_error("optimiser state names parameter '" + name + "', which is not registered");
    }
    Slot& slot = it->second;
    c10::IValue step;
    archive.read(slot_key(index, "step"), step);
    slot.step = step.toInt();
    slot.state.clear();
    for (const auto& key : state_keys) {
      Tensor t;
      if (!archive.try_read(slot_key(index, key), t, /*is_buffer=*/true)) break;
      if (t.sizes() != slot.param.sizes()) {
        throw std::runtime_error("optimiser state '" + key + "' of '" + name + "' has the wrong shape");
      }
      slot.state.push_back(t.to(slot.param.options()).contiguous().clone());
    }
    if (!slot.state.empty() && slot.state.size() != state_keys.size()) {
      throw std::runtime_error("optimiser state of '" + name + "' is incomplete");
    }
    ++index;
  }
}

Tensor scalar_like(double value, const Tensor& t) { return at::scalar_tensor(value, t.options()); }

}  // namespace amortize::infer::optim
