// Stochastic variational inference: one object that owns a model, a guide, an objective, an
// optimiser (Adam by default) over the active parameter store and a generator every draw comes
// from, so the same seed gives the same run. step() takes one plain gradient step; for long
// runs (NaN guard, schedules, progress, checkpoints, stopping rule) hand loss_fn() and
// optimizer() to a Trainer, or call trainer().
#pragma once
#include "amortize/infer/elbo.hpp"
#include "amortize/infer/optim/optimizer.hpp"
#include "amortize/infer/optim/schedule.hpp"
#include "amortize/infer/trainer.hpp"

#include <ATen/core/Generator.h>

#include <memory>

namespace amortize::infer {

struct SviOptions {
  double learning_rate = 0.01;
  uint64_t seed = 1;
  // Per-step multiplicative learning-rate decay (1: constant).
  double learning_rate_decay = 1.0;
  // The optimiser (null: Adam at learning_rate). Its own learning rate is then the base rate.
  std::shared_ptr<optim::Optimizer> optimizer = nullptr;
  // Argument and support validation (dist::validation_enabled) runs on the first evaluation
  // only, unless this is set: each check reads a value back, which a small model's step feels.
  bool validate_every_step = false;
};

class Svi {
 public:
  Svi(Program model, Program guide, std::shared_ptr<Elbo> objective, SviOptions options = {});
  ~Svi();
  // One step; returns the ELBO estimate before the update.
  double step();
  // The loss of one step (the objective under a SeedHandler with this generator) and its ELBO.
  LossEvaluation evaluate();
  // evaluate() as a trainer's loss closure.
  LossFn loss_fn();
  // The learning-rate schedule of SviOptions::learning_rate_decay.
  optim::Schedule schedule() const;
  // A trainer driving this SVI (options.schedule defaults to schedule()); it calls back into
  // this object, which must outlive it.
  std::unique_ptr<Trainer> trainer(TrainerOptions options = {});

  const Elbo& objective() const { return *objective_; }
  at::Generator& generator() { return generator_; }
  std::shared_ptr<optim::Optimizer> optimizer() const { return optimizer_; }

 private:
  Program model_;
  Program guide_;
  std::shared_ptr<Elbo> objective_;
  SviOptions options_;
  at::Generator generator_;
  std::shared_ptr<optim::Optimizer> optimizer_;
  int64_t steps_ = 0;
  int64_t evaluations_ = 0;
};

}  // namespace amortize::infer
