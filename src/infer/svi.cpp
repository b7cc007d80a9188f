#include "amortize/infer/svi.hpp"

#include "amortize/model/handlers.hpp"
#include "amortize/model/param_store.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/optim/adam.h>

#include <cmath>

namespace amortize::infer {

Svi::Svi(Program model, Program guide, std::shared_ptr<Elbo> objective, SviOptions options)
    : model_(std::move(model)),
      guide_(std::move(guide)),
      objective_(std::move(objective)),
      options_(options),
      generator_(at::make_generator<at::CPUGeneratorImpl>(options.seed)) {
  if (!(options.learning_rate > 0)) throw std::invalid_argument("SVI: learning rate must be positive");
}

Svi::~Svi() = default;

double Svi::step() {
  Tensor loss;
  {
    model::SeedHandler seed(generator_);
    loss = objective_->loss(model_, guide_);
  }
  auto params = model::active_param_store().parameters();
  // Parameters appear on the first run; the optimiser is (re)built when the set grows.
  if (!optimizer_ || params.size() != n_params_) {
    optimizer_ = std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(options_.learning_rate));
    n_params_ = params.size();
  }
  optimizer_->zero_grad();
  loss.backward();
  optimizer_->step();
  ++steps_;
  if (options_.learning_rate_decay != 1.0) {
    const double lr = options_.learning_rate * std::pow(options_.learning_rate_decay, static_cast<double>(steps_));
    for (auto& group : optimizer_->param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
  }
  return objective_->last_elbo();
}

}  // namespace amortize::infer
