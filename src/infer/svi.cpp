#include "amortize/infer/svi.hpp"

#include "amortize/dist/validation.hpp"
#include "amortize/infer/optim/adam.hpp"
#include "amortize/model/handlers.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <optional>

namespace amortize::infer {

Svi::Svi(Program model, Program guide, std::shared_ptr<Elbo> objective, SviOptions options)
    : model_(std::move(model)),
      guide_(std::move(guide)),
      objective_(std::move(objective)),
      options_(options),
      generator_(at::make_generator<at::CPUGeneratorImpl>(options.seed)),
      optimizer_(options.optimizer) {
  if (!(options.learning_rate > 0)) throw std::invalid_argument("SVI: learning rate must be positive");
  if (!(options.learning_rate_decay > 0)) throw std::invalid_argument("SVI: learning-rate decay must be positive");
  if (!optimizer_) optimizer_ = std::make_shared<optim::Adam>(options.learning_rate);
}

Svi::~Svi() = default;

LossEvaluation Svi::evaluate() {
  Tensor loss;
  {
    std::optional<dist::ValidationScope> unchecked;
    if (evaluations_++ > 0 && !options_.validate_every_step) unchecked.emplace(false);
    model::SeedHandler seed(generator_);
    loss = objective_->loss(model_, guide_);
  }
  return {loss, objective_->last_elbo()};
}

LossFn Svi::loss_fn() {
  return [this](int64_t) { return evaluate(); };
}

optim::Schedule Svi::schedule() const {
  if (options_.learning_rate_decay == 1.0) return optim::constant_schedule();
  return optim::exponential_schedule(options_.learning_rate_decay);
}

std::unique_ptr<Trainer> Svi::trainer(TrainerOptions options) {
  if (!options.schedule) options.schedule = schedule();
  // The objective's score-function baselines travel with the checkpoint.
  constexpr const char* kBaselinePrefix = "elbo_baseline/";
  if (!options.save_extra_state) {
    options.save_extra_state = [this] {
      std::map<std::string, Tensor> state;
      for (const auto& [site, value] : objective_->baselines()) {
        state[kBaselinePrefix + site] = at::scalar_tensor(value, at::kDouble);
      }
      return state;
    };
  }
  if (!options.load_extra_state) {
    options.load_extra_state = [this](const std::map<std::string, Tensor>& state) {
      std::map<std::string, double> baselines;
      const std::string prefix = kBaselinePrefix;
      for (const auto& [key, value] : state) {
        if (key.rfind(prefix, 0) == 0) baselines[key.substr(prefix.size())] = value.item<double>();
      }
      objective_->set_baselines(std::move(baselines));
    };
  }
  return std::make_unique<Trainer>(loss_fn(), optimizer_, generator_, std::move(options));
}

double Svi::step() {
  LossEvaluation eval = evaluate();
  // Parameters appear on the first run; the optimiser picks up new ones by name.
  const auto params = param_store_parameters();
  optimizer_->add_parameters(params);
  optimizer_->zero_grad();
  eval.loss.backward();
  optimizer_->step(std::pow(options_.learning_rate_decay, static_cast<double>(steps_)));
  ++steps_;
  return *eval.elbo;
}

}  // namespace amortize::infer
