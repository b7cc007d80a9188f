#include "amortize/infer/optim/adam.hpp"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/variable.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <stdexcept>

namespace amortize::infer::optim {
namespace {
void check_betas(const char* who, double beta1, double beta2, double eps) {
  if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
    throw std::invalid_argument(std::string(who) + ": betas must lie in [0, 1)");
  }
  if (!(eps >= 0)) throw std::invalid_argument(std::string(who) + ": eps must be non-negative");
}

// Shared moment update; returns nothing, leaves the new moments in m and v.
void update_moments(Tensor& m, Tensor& v, const Tensor& g, double beta1, double beta2) {
  m.lerp_(g, 1.0 - beta1);
  v.mul_(scalar_like(beta2, v)).addcmul_(g, g, 1.0 - beta2);
}

constexpr int64_t kGrain = int64_t{1} << 15;  // elements per parallel chunk of a large parameter

template <typename T>
AdamArrays<T> arrays_of(Tensor& param, std::vector<Tensor>& state, const T* const* grads, int64_t count) {
  return {param.data_ptr<T>(), state[0].data_ptr<T>(), state[1].data_ptr<T>(), grads, count};
}

// The whole update in one pass (fused_adam.hpp) over a dense CPU parameter, split over
// LibTorch's threads when large; false when the tensors do not qualify (the caller then runs
// the ATen operations, whose arithmetic the kernel follows).
bool fused_update(Tensor& param, const Tensor& grad, std::vector<Tensor>& state, const AdamCoefficients& c) {
  const auto dtype = param.scalar_type();
  for (const Tensor* t : std::initializer_list<const Tensor*>{&param, &grad, &state[0], &state[1]}) {
    if (!t->device().is_cpu() || t->is_sparse() || !t->is_contiguous() || t->scalar_type() != dtype ||
        t->numel() != param.numel()) {
      return false;
    }
  }
  if (dtype != at::kDouble && dtype != at::kFloat) return false;
  AT_DISPATCH_FLOATING_TYPES(dtype, "fused_adam", [&] {
    const scalar_t* g = grad.data_ptr<scalar_t>();
    const auto arrays = arrays_of<scalar_t>(param, state, &g, 1);
    at::parallel_for(0, param.numel(), kGrain, [&](int64_t begin, int64_t end) { fused_adam(arrays, begin, end, c); });
  });
  // As an in-place ATen operation would: a graph that saved the old value must notice.
  torch::autograd::impl::bump_version(param);
  return true;
}

AdamCoefficients adam_coefficients(const AdamOptions& o, int64_t step, double lr) {
  const double t = static_cast<double>(step);
  const double bc1 = 1.0 - std::pow(o.beta1, t);
  const double sqrt_bc2 = std::sqrt(1.0 - std::pow(o.beta2, t));
  // torch.optim.Adam: p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps), rearranged to fuse the ops.
  return {o.beta1, o.beta2, o.weight_decay, o.eps * sqrt_bc2, -lr * sqrt_bc2 / bc1};
}

std::string invalid_partition(const std::string& name, const std::string& why) {
  return "Adam: parameter '" + name + "' cannot take a partitioned step: " + why;
}
}  // namespace

Adam::Adam(double learning_rate, AdamOptions options) : Optimizer(learning_rate), options_(options) {
  check_betas("Adam", options.beta1, options.beta2, options.eps);
}

void Adam::update(Tensor& param, const Tensor& grad, std::vector<Tensor>& state, int64_t step, double lr) const {
  const AdamCoefficients c = adam_coefficients(options_, step, lr);
  if (fused_update(param, grad, state, c)) return;
  const Tensor g = options_.weight_decay != 0 ? grad.add(param, options_.weight_decay) : grad;
  update_moments(state[0], state[1], g, options_.beta1, options_.beta2);
  param.addcdiv_(state[0], state[1].sqrt().add_(scalar_like(c.eps, param)), c.step_size);
}

void Adam::begin_partitioned_step(const std::vector<std::string>& names,
                                  const std::vector<std::vector<Tensor>>& worker_grads, double lr_scale,
                                  bool zero_gradients) {
  partitions_.clear();
  partition_of_name_.assign(names.size(), -1);
  partitioned_elements_ = 0;
  for (const auto& grads : worker_grads) {
    if (grads.size() != names.size()) {
      throw std::invalid_argument("Adam: a worker gave " + std::to_string(grads.size()) + " gradients for " +
                                  std::to_string(names.size()) + " parameters");
    }
  }
  // Checked first, counted after: a refused step leaves the optimiser as it was.
  std::vector<Slot*> slots;
  for (size_t i = 0; i < names.size(); ++i) {
    auto it = slots_.find(names[i]);
    if (it == slots_.end()) throw std::invalid_argument("Adam: unknown parameter '" + names[i] + "'");
    const Tensor& p = it->second.param;
    const auto dtype = p.scalar_type();
    if (!p.device().is_cpu() || p.is_sparse() || !p.is_contiguous() || (dtype != at::kFloat && dtype != at::kDouble)) {
      throw std::invalid_argument(invalid_partition(names[i], "not a dense contiguous CPU float or double tensor"));
    }
    Partition part;
    part.zero_gradients = zero_gradients;
    for (const auto& grads : worker_grads) {
      const Tensor& g = grads[i];
      if (!g.defined()) continue;
      if (!g.device().is_cpu() || g.is_sparse() || !g.is_contiguous() || g.scalar_type() != dtype ||
          g.numel() != p.numel()) {
        throw std::invalid_argument(
            invalid_partition(names[i], "a gradient is not a contiguous CPU tensor of its size and dtype"));
      }
      if (dtype == at::kFloat) {
        part.float_grads.push_back(g.data_ptr<float>());
      } else {
        part.double_grads.push_back(g.data_ptr<double>());
      }
    }
    if (part.float_grads.empty() && part.double_grads.empty()) continue;
    partition_of_name_[i] = static_cast<int64_t>(partitions_.size());
    part.param = p;
    partitions_.push_back(std::move(part));
    slots.push_back(&it->second);
  }
  ++steps_;
  const double lr = step_learning_rate(learning_rate_ * lr_scale);
  for (size_t i = 0; i < partitions_.size(); ++i) {
    Slot& slot = *slots[i];
    Partition& part = partitions_[i];
    slot.touched_rows = Tensor();
    if (slot.state.size() != 2 || !slot.state[0].is_contiguous() || !slot.state[1].is_contiguous()) {
      init_state(slot);
    }
    part.exp_avg = slot.state[0];
    part.exp_avg_sq = slot.state[1];
    part.coefficients = adam_coefficients(options_, ++slot.step, lr);
    part.offset = partitioned_elements_;
    partitioned_elements_ += part.param.numel();
    torch::autograd::impl::bump_version(part.param);
  }
}

void Adam::update_partition(int64_t part, int64_t parts) const {
  if (parts < 1 || part < 0 || part >= parts) {
    throw std::invalid_argument("Adam: partition " + std::to_string(part) + " of " + std::to_string(parts));
  }
  // Boundaries in the concatenation of all parameters, on multiples of 16 elements so that two
  // parts never write the same cache line.
  const int64_t total = partitioned_elements_;
  auto boundary = [&](int64_t k) { return k == parts ? total : total * k / parts / 16 * 16; };
  const int64_t lo = boundary(part), hi = boundary(part + 1);
  for (const auto& p : partitions_) {
    const int64_t n = p.param.numel();
    const int64_t begin = std::max(lo, p.offset) - p.offset, end = std::min(hi, p.offset + n) - p.offset;
    if (begin < end) update_elements(p, begin, end);
  }
}

void Adam::update_parameter_range(size_t index, int64_t begin, int64_t end) const {
  if (index >= partition_of_name_.size()) {
    throw std::invalid_argument("Adam: parameter " + std::to_string(index) + " of " +
                                std::to_string(partition_of_name_.size()) + " in the partitioned step");
  }
  const int64_t part = partition_of_name_[index];
  if (part < 0) return;  // no gradient this step
  const Partition& p = partitions_[static_cast<size_t>(part)];
  if (begin < 0 || begin > end || end > p.param.numel()) {
    throw std::invalid_argument("Adam: elements [" + std::to_string(begin) + ", " + std::to_string(end) +
                                ") of a parameter with " + std::to_string(p.param.numel()));
  }
  if (begin < end) update_elements(p, begin, end);
}

void Adam::update_elements(const Partition& p, int64_t begin, int64_t end) {
  if (p.param.scalar_type() == at::kFloat) {
    const AdamArrays<float> a{
        static_cast<float*>(p.param.data_ptr()),      static_cast<float*>(p.exp_avg.data_ptr()),
        static_cast<float*>(p.exp_avg_sq.data_ptr()), p.float_grads.data(),
        static_cast<int64_t>(p.float_grads.size()),   p.zero_gradients ? p.float_grads.data() : nullptr};
    fused_adam(a, begin, end, p.coefficients);
  } else {
    const AdamArrays<double> a{
        static_cast<double*>(p.param.data_ptr()),      static_cast<double*>(p.exp_avg.data_ptr()),
        static_cast<double*>(p.exp_avg_sq.data_ptr()), p.double_grads.data(),
        static_cast<int64_t>(p.double_grads.size()),   p.zero_gradients ? p.double_grads.data() : nullptr};
    fused_adam(a, begin, end, p.coefficients);
  }
}

void Adam::update_claimed_partitions(std::atomic<int64_t>& next, int64_t parts) const {
  for (int64_t part; (part = next.fetch_add(1, std::memory_order_relaxed)) < parts;) update_partition(part, parts);
}

ClippedAdam::ClippedAdam(double learning_rate, ClippedAdamOptions options)
    : Optimizer(learning_rate), options_(options) {
  check_betas("ClippedAdam", options.beta1, options.beta2, options.eps);
  if (!(options.clip_norm > 0)) throw std::invalid_argument("ClippedAdam: clip_norm must be positive");
  if (!(options.lr_decay > 0 && options.lr_decay <= 1)) {
    throw std::invalid_argument("ClippedAdam: lr_decay must lie in (0, 1]");
  }
}

double ClippedAdam::step_learning_rate(double lr) const {
  return lr * std::pow(options_.lr_decay, static_cast<double>(steps_));
}

void ClippedAdam::prepare_step(std::vector<Tensor>& grads) {
  last_norm_ = global_norm(grads);
  if (last_norm_ > options_.clip_norm) {
    const double scale = options_.clip_norm / (last_norm_ + 1e-6);
    for (auto& g : grads) {
      if (g.is_sparse()) {
        g._values().mul_(scale);
      } else {
        g.mul_(scale);
      }
    }
  }
}

void ClippedAdam::update(Tensor& param, const Tensor& grad, std::vector<Tensor>& state, int64_t step, double lr) const {
  const double t = static_cast<double>(step);
  const double bc1 = 1.0 - std::pow(options_.beta1, t);
  const double bc2 = 1.0 - std::pow(options_.beta2, t);
  // Pyro's ClippedAdam: p -= lr sqrt(bc2)/bc1 * m / (sqrt(v) + eps).
  const AdamCoefficients c{options_.beta1, options_.beta2, options_.weight_decay, options_.eps,
                           -lr * std::sqrt(bc2) / bc1};
  if (fused_update(param, grad, state, c)) return;
  const Tensor g = options_.weight_decay != 0 ? grad.add(param, options_.weight_decay) : grad;
  update_moments(state[0], state[1], g, options_.beta1, options_.beta2);
  param.addcdiv_(state[0], state[1].sqrt().add_(scalar_like(c.eps, param)), c.step_size);
}

double global_norm(const std::vector<Tensor>& grads) {
  if (grads.empty()) return 0.0;
  std::vector<Tensor> dense;
  dense.reserve(grads.size());
  for (const auto& g : grads) dense.push_back(g.is_sparse() ? g._values() : g);
  return at::stack(at::_foreach_norm(dense)).norm().item<double>();
}

}  // namespace amortize::infer::optim
