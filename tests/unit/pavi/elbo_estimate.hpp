// Mean and standard error of repeated ELBO estimates at fixed parameters (the unbiasedness
// tests compare a subsampled estimator's mean with the full-batch one's).
#pragma once
#include "amortize/infer/elbo.hpp"
#include "amortize/model/handlers.hpp"

#include <cmath>
#include <utility>

namespace pavi_tests {

inline std::pair<double, double> elbo_mean_and_se(const amortize::infer::Program& model,
                                                  const amortize::infer::Program& guide, int64_t reps, uint64_t seed) {
  at::NoGradGuard no_grad;
  amortize::infer::TraceElbo elbo;
  amortize::model::SeedHandler seeder(seed);
  double sum = 0, sum_sq = 0;
  for (int64_t r = 0; r < reps; ++r) {
    elbo.loss(model, guide);
    sum += elbo.last_elbo();
    sum_sq += elbo.last_elbo() * elbo.last_elbo();
  }
  const double mean = sum / static_cast<double>(reps);
  return {mean, std::sqrt((sum_sq / static_cast<double>(reps) - mean * mean) / static_cast<double>(reps - 1))};
}

}  // namespace pavi_tests
