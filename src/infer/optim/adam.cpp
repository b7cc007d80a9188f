#include "amortize/infer/optim/adam.hpp"

#include <cmath>
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
  v.mul_(beta2).addcmul_(g, g, 1.0 - beta2);
}
}  // namespace

Adam::Adam(double learning_rate, AdamOptions options) : Optimizer(learning_rate), options_(options) {
  check_betas("Adam", options.beta1, options.beta2, options.eps);
}

void Adam::update(Tensor& param, const Tensor& grad, std::vector<Tensor>& state, int64_t step, double lr) const {
  const Tensor g = options_.weight_decay != 0 ? grad.add(param, options_.weight_decay) : grad;
  update_moments(state[0], state[1], g, options_.beta1, options_.beta2);
  const double t = static_cast<double>(step);
  const double bc1 = 1.0 - std::pow(options_.beta1, t);
  const double sqrt_bc2 = std::sqrt(1.0 - std::pow(options_.beta2, t));
  // torch.optim.Adam: p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps), rearranged to fuse the ops.
  param.addcdiv_(state[0], state[1].sqrt().add_(options_.eps * sqrt_bc2), -lr * sqrt_bc2 / bc1);
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
  const Tensor g = options_.weight_decay != 0 ? grad.add(param, options_.weight_decay) : grad;
  update_moments(state[0], state[1], g, options_.beta1, options_.beta2);
  const double t = static_cast<double>(step);
  const double bc1 = 1.0 - std::pow(options_.beta1, t);
  const double bc2 = 1.0 - std::pow(options_.beta2, t);
  // Pyro's ClippedAdam: p -= lr sqrt(bc2)/bc1 * m / (sqrt(v) + eps).
  param.addcdiv_(state[0], state[1].sqrt().add_(options_.eps), -lr * std::sqrt(bc2) / bc1);
}

double global_norm(const std::vector<Tensor>& grads) {
  if (grads.empty()) return 0.0;
  std::vector<Tensor> dense;
  dense.reserve(grads.size());
  for (const auto& g : grads) dense.push_back(g.is_sparse() ? g._values() : g);
  return at::stack(at::_foreach_norm(dense)).norm().item<double>();
}

}  // namespace amortize::infer::optim
