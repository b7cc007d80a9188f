// Stochastic variational inference: one object that owns a model, a guide, an objective and
// an Adam optimiser over the active parameter store, and takes gradient steps. Every draw
// comes from the generator seeded here, so the same seed gives the same run.
#pragma once
#include "amortize/infer/elbo.hpp"

#include <ATen/core/Generator.h>

#include <memory>

namespace torch::optim {
class Optimizer;
}

namespace amortize::infer {

struct SviOptions {
  double learning_rate = 0.01;
  uint64_t seed = 1;
  // Per-step multiplicative learning-rate decay (1: constant).
  double learning_rate_decay = 1.0;
};

class Svi {
 public:
  Svi(Program model, Program guide, std::shared_ptr<Elbo> objective, SviOptions options = {});
  ~Svi();
  // One step; returns the ELBO estimate before the update.
  double step();
  const Elbo& objective() const { return *objective_; }
  at::Generator& generator() { return generator_; }

 private:
  Program model_;
  Program guide_;
  std::shared_ptr<Elbo> objective_;
  SviOptions options_;
  at::Generator generator_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  size_t n_params_ = 0;
  int64_t steps_ = 0;
};

}  // namespace amortize::infer
