// Mean and standard error of repeated ELBO estimates at fixed parameters (the unbiasedness
// tests compare a subsampled estimator's mean with the full-batch one's).
#pragma once
#include "amortize/infer/elbo.hpp"
#include "amortize/model/handlers.hpp"
#include "amortize/pavi/population_elbo.hpp"

#include <gtest/gtest.h>

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

// A population ELBO agrees with a full-batch estimate (mean `full`, standard error `full_se`)
// within 4 combined standard errors, and the comparison has power: that noise is under 5 % of
// the ELBO's size.
inline ::testing::AssertionResult population_matches_full(const amortize::pavi::PopulationElbo& pop, double full,
                                                          double full_se) {
  const double se = std::sqrt(pop.standard_error * pop.standard_error + full_se * full_se);
  if (std::abs(pop.elbo - full) < 4 * se && se < 0.05 * std::abs(full)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "population " << pop.elbo << " full " << full << " se " << se;
}

}  // namespace pavi_tests
