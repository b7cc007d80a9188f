#include "amortize/infer/optim/sgd.hpp"

#include <stdexcept>

namespace amortize::infer::optim {

Sgd::Sgd(double learning_rate, SgdOptions options) : Optimizer(learning_rate), options_(options) {
  if (!(options.momentum >= 0)) throw std::invalid_argument("SGD: momentum must be non-negative");
  if (options.nesterov && (options.momentum <= 0 || options.dampening != 0)) {
    throw std::invalid_argument("SGD: Nesterov momentum needs a positive momentum and zero dampening");
  }
}

std::vector<std::string> Sgd::state_names() const {
  if (options_.momentum != 0) return {"momentum_buffer"};
  return {};
}

void Sgd::update(Tensor& param, const Tensor& grad, std::vector<Tensor>& state, int64_t step, double lr) const {
  const Tensor g = options_.weight_decay != 0 ? grad.add(param, options_.weight_decay) : grad;
  if (options_.momentum == 0) {
    param.add_(g, -lr);
    return;
  }
  Tensor& buf = state[0];
  if (step == 1) {
    buf.copy_(g);
  } else {
    buf.mul_(scalar_like(options_.momentum, buf)).add_(g, 1.0 - options_.dampening);
  }
  if (options_.nesterov) {
    // p -= lr (g + momentum buf)
    param.add_(g, -lr).add_(buf, -lr * options_.momentum);
  } else {
    param.add_(buf, -lr);
  }
}

}  // namespace amortize::infer::optim
