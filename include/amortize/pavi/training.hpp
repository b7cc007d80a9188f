// The training loop shared by the PAVI fits and their mean-field baseline: SVI with Adam and an
// exponentially decaying learning rate, the ELBO recorded against wall time, and (for a PAVI
// guide) Polyak-Ruppert averaging of the shared parameters. Averaging is what brings a global
// site of a large plate to its posterior mean: each step's batch moves it by a sampling noise of
// many posterior sds, which the average over whole epochs cancels. The encoder and the local
// flows are averaged over the run's tail only (averaged over a long window while they still
// move, they blur: at 5e7 groups the group means went from 0.016 to 0.58 sds off).
#pragma once
#include "amortize/infer/elbo.hpp"
#include "amortize/pavi/pavi_guide.hpp"
#include "amortize/pavi/population_elbo.hpp"

#include <optional>
#include <vector>

namespace amortize::pavi {

struct TrainingOptions {
  int64_t steps = 2000;
  // Vectorised particles; an even number makes PAVI's base draws antithetic pairs.
  int64_t particles = 2;
  double learning_rate = 0.02;
  double final_learning_rate = 0.0005;  // reached by exponential decay at the last step
  uint64_t seed = 1;
  // Averaging of the PAVI guide's global sites' flows over the steps after this fraction of the
  // run, moved later to a whole number of epochs (averaging_start); the guide keeps the average
  // at the end. 1: off.
  double average_from = 0.5;
  // The same for its other shared parameters (set encoders, local flows), from this fraction of
  // the run (not moved). 1: off.
  double local_average_from = 0.75;
  double max_seconds = 0;  // > 0: stop after this much wall time
};

struct TrainingTrace {
  std::vector<double> elbo;     // per step
  std::vector<double> seconds;  // wall time at the end of each step
  double final_elbo = 0;        // mean of the last 10 % of the steps' estimates
  // PAVI fits: the final (averaged) guide's ELBO over the whole population.
  std::optional<PopulationElbo> final_guide;
  double train_seconds = 0;
  int64_t steps = 0;
};

// The first averaged step: from `average_from` of the run, moved later so that the averaged
// steps are a whole number of epochs when at least one fits (each epoch visits every element
// once, so its batches' subsampling noise cancels in the average; a partial epoch's does not).
int64_t averaging_start(int64_t steps, double average_from, int64_t steps_per_epoch);

// Trains the parameters of the active parameter store; `pavi` (may be null) names the guide
// whose shared parameters are averaged (the global sites' from averaging_start(steps,
// average_from, epoch), the others' from local_average_from).
TrainingTrace train(const infer::Program& model, const infer::Program& guide, PaviGuide* pavi,
                    const TrainingOptions& options);

}  // namespace amortize::pavi
