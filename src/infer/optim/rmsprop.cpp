#include "amortize/infer/optim/rmsprop.hpp"

#include <stdexcept>

namespace amortize::infer::optim {

Rmsprop::Rmsprop(double learning_rate, RmspropOptions options) : Optimizer(learning_rate), options_(options) {
  if (!(options.alpha >= 0 && options.alpha < 1)) throw std::invalid_argument("RMSprop: alpha must lie in [0, 1)");
  if (!(options.momentum >= 0)) throw std::invalid_argument("RMSprop: momentum must be non-negative");
  if (!(options.eps >= 0)) throw std::invalid_argument("RMSprop: eps must be non-negative");
}

std::vector<std::string> Rmsprop::state_names() const {
  std::vector<std::string> names{"square_avg"};
  if (options_.momentum > 0) names.push_back("momentum_buffer");
  if (options_.centered) names.push_back("grad_avg");
  return names;
}

void Rmsprop::update(Tensor& param, const Tensor& grad, std::vector<Tensor>& state, int64_t /*step*/, double lr) const {
  const Tensor g = options_.weight_decay != 0 ? grad.add(param, options_.weight_decay) : grad;
  Tensor& square_avg = state[0];
  square_avg.mul_(scalar_like(options_.alpha, square_avg)).addcmul_(g, g, 1.0 - options_.alpha);
  Tensor avg;
  if (options_.centered) {
    Tensor& grad_avg = state.back();
    grad_avg.lerp_(g, 1.0 - options_.alpha);
    avg = square_avg.addcmul(grad_avg, grad_avg, -1.0).sqrt_().add_(scalar_like(options_.eps, param));
  } else {
    avg = square_avg.sqrt().add_(scalar_like(options_.eps, param));
  }
  if (options_.momentum > 0) {
    Tensor& buf = state[1];
    buf.mul_(scalar_like(options_.momentum, buf)).addcdiv_(g, avg);
    param.add_(buf, -lr);
  } else {
    param.addcdiv_(g, avg, -lr);
  }
}

}  // namespace amortize::infer::optim
