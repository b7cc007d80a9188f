#include "amortize/infer/optim/adam.hpp"

#include <torch/csrc/autograd/variable.h>

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

// Parameters up to this size on the CPU take the fused loop below.
constexpr int64_t kFusedMaxElements = int64_t{1} << 14;

struct AdamStep {
  double beta1;
  double beta2;
  double weight_decay;
  double eps;        // added to sqrt(v)
  double step_size;  // p += step_size * m / (sqrt(v) + eps)
};

// The whole update (moments, denominator, parameter) in one pass over a small dense CPU
// parameter, element by element with the arithmetic of the ATen operations of the general path
// (lerp_, mul_, addcmul_, sqrt, add_, addcdiv_), without their eight dispatches per parameter,
// which dominate a small model's optimiser step. Returns false when the tensors do not qualify.
bool fused_update(Tensor& param, const Tensor& grad, std::vector<Tensor>& state, const AdamStep& a) {
  Tensor& m = state[0];
  Tensor& v = state[1];
  const auto dtype = param.scalar_type();
  for (const Tensor* t : std::initializer_list<const Tensor*>{&param, &grad, &m, &v}) {
    if (!t->device().is_cpu() || t->is_sparse() || !t->is_contiguous() || t->scalar_type() != dtype ||
        t->numel() != param.numel()) {
      return false;
    }
  }
  if ((dtype != at::kDouble && dtype != at::kFloat) || param.numel() > kFusedMaxElements) return false;
  AT_DISPATCH_FLOATING_TYPES(dtype, "fused_adam", [&] {
    const auto w1 = static_cast<scalar_t>(1.0 - a.beta1);
    const auto b2 = static_cast<scalar_t>(a.beta2);
    const auto w2 = static_cast<scalar_t>(1.0 - a.beta2);
    const auto wd = static_cast<scalar_t>(a.weight_decay);
    const auto eps = static_cast<scalar_t>(a.eps);
    const auto step = static_cast<scalar_t>(a.step_size);
    scalar_t* p = param.data_ptr<scalar_t>();
    const scalar_t* g = grad.data_ptr<scalar_t>();
    scalar_t* mp = m.data_ptr<scalar_t>();
    scalar_t* vp = v.data_ptr<scalar_t>();
    for (int64_t i = 0, n = param.numel(); i < n; ++i) {
      const scalar_t gi = a.weight_decay != 0 ? g[i] + wd * p[i] : g[i];
      mp[i] = w1 < scalar_t(0.5) ? mp[i] + w1 * (gi - mp[i]) : gi - (gi - mp[i]) * (scalar_t(1) - w1);
      vp[i] = vp[i] * b2 + w2 * gi * gi;
      p[i] = p[i] + step * mp[i] / (std::sqrt(vp[i]) + eps);
    }
  });
  // As an in-place ATen operation would: a graph that saved the old value must notice.
  torch::autograd::impl::bump_version(param);
  return true;
}
}  // namespace

Adam::Adam(double learning_rate, AdamOptions options) : Optimizer(learning_rate), options_(options) {
  check_betas("Adam", options.beta1, options.beta2, options.eps);
}

void Adam::update(Tensor& param, const Tensor& grad, std::vector<Tensor>& state, int64_t step, double lr) const {
  const double t = static_cast<double>(step);
  const double bc1 = 1.0 - std::pow(options_.beta1, t);
  const double sqrt_bc2 = std::sqrt(1.0 - std::pow(options_.beta2, t));
  if (fused_update(param, grad, state,
                   {options_.beta1, options_.beta2, options_.weight_decay, options_.eps * sqrt_bc2, -lr * sqrt_bc2 / bc1})) {
    return;
  }
  const Tensor g = options_.weight_decay != 0 ? grad.add(param, options_.weight_decay) : grad;
  update_moments(state[0], state[1], g, options_.beta1, options_.beta2);
  // torch.optim.Adam: p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps), rearranged to fuse the ops.
  param.addcdiv_(state[0], state[1].sqrt().add_(scalar_like(options_.eps * sqrt_bc2, param)), -lr * sqrt_bc2 / bc1);
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
  if (fused_update(param, grad, state,
                   {options_.beta1, options_.beta2, options_.weight_decay, options_.eps, -lr * std::sqrt(bc2) / bc1})) {
    return;
  }
  const Tensor g = options_.weight_decay != 0 ? grad.add(param, options_.weight_decay) : grad;
  update_moments(state[0], state[1], g, options_.beta1, options_.beta2);
  // Pyro's ClippedAdam: p -= lr sqrt(bc2)/bc1 * m / (sqrt(v) + eps).
  param.addcdiv_(state[0], state[1].sqrt().add_(scalar_like(options_.eps, param)), -lr * std::sqrt(bc2) / bc1);
}

double global_norm(const std::vector<Tensor>& grads) {
  if (grads.empty()) return 0.0;
  std::vector<Tensor> dense;
  dense.reserve(grads.size());
  for (const auto& g : grads) dense.push_back(g.is_sparse() ? g._values() : g);
  return at::stack(at::_foreach_norm(dense)).norm().item<double>();
}

}  // namespace amortize::infer::optim
