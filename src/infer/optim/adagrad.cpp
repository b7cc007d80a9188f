#include "amortize/infer/optim/adagrad.hpp"

#include <stdexcept>

namespace amortize::infer::optim {

Adagrad::Adagrad(double learning_rate, AdagradOptions options) : Optimizer(learning_rate), options_(options) {
  if (!(options.lr_decay >= 0)) throw std::invalid_argument("Adagrad: lr_decay must be non-negative");
  if (!(options.initial_accumulator_value >= 0)) {
    throw std::invalid_argument("Adagrad: initial_accumulator_value must be non-negative");
  }
  if (!(options.eps >= 0)) throw std::invalid_argument("Adagrad: eps must be non-negative");
}

void Adagrad::init_state(Slot& slot) const {
  slot.state = {at::full_like(slot.param.detach(), options_.initial_accumulator_value)};
}

void Adagrad::update(Tensor& param, const Tensor& grad, std::vector<Tensor>& state, int64_t step, double lr) const {
  const Tensor g = options_.weight_decay != 0 ? grad.add(param, options_.weight_decay) : grad;
  const double clr = lr / (1.0 + static_cast<double>(step - 1) * options_.lr_decay);
  state[0].addcmul_(g, g, 1.0);
  param.addcdiv_(g, state[0].sqrt().add_(scalar_like(options_.eps, param)), -clr);
}

}  // namespace amortize::infer::optim
