// Learning-rate schedules and annealing weights as pure functions of the step (counted from 0):
// a schedule returns the factor that multiplies the optimiser's base learning rate at that
// step. Being stateless, a schedule resumes from a checkpoint with nothing but the step.
// Schedules compose: warmup(K, cosine(N, 0.01)) warms up linearly, then follows the cosine.
#pragma once
#include <cstdint>
#include <functional>

namespace amortize::infer::optim {

using Schedule = std::function<double(int64_t step)>;

// 1 at every step.
Schedule constant_schedule();
// factor^step.
Schedule exponential_schedule(double factor_per_step);
// Decays by `total_factor` over `steps` steps (factor^(step/steps)), e.g. (0.01, N): a
// hundredfold over a run of N steps.
Schedule exponential_decay_over(double total_factor, int64_t steps);
// gamma^(floor(step / every)).
Schedule step_schedule(int64_t every, double gamma);
// Cosine from 1 down to `floor` over `steps` steps, then `floor`.
Schedule cosine_schedule(int64_t steps, double floor = 0.0);
// inner(step) * min(1, (step + 1) / warmup_steps): linear warm-up in front of any schedule.
Schedule linear_warmup(int64_t warmup_steps, Schedule inner = constant_schedule());
// KL (beta) annealing weight: b0 + (1 - b0) * min(1, step / steps), reaching 1 after `steps`.
Schedule kl_annealing(double b0, int64_t steps);

}  // namespace amortize::infer::optim
