#include "amortize/infer/optim/schedule.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace amortize::infer::optim {
namespace {
void require_positive(const char* who, const char* what, double value) {
  if (!(value > 0) || !std::isfinite(value)) {
    throw std::invalid_argument(std::string(who) + ": " + what + " must be positive, got " + std::to_string(value));
  }
}
}  // namespace

Schedule constant_schedule() {
  return [](int64_t) { return 1.0; };
}

Schedule exponential_schedule(double factor_per_step) {
  require_positive("exponential schedule", "factor", factor_per_step);
  return [factor_per_step](int64_t step) { return std::pow(factor_per_step, static_cast<double>(step)); };
}

Schedule exponential_decay_over(double total_factor, int64_t steps) {
  require_positive("exponential schedule", "total factor", total_factor);
  require_positive("exponential schedule", "step count", static_cast<double>(steps));
  return exponential_schedule(std::pow(total_factor, 1.0 / static_cast<double>(steps)));
}

Schedule step_schedule(int64_t every, double gamma) {
  require_positive("step schedule", "period", static_cast<double>(every));
  require_positive("step schedule", "gamma", gamma);
  return [every, gamma](int64_t step) { return std::pow(gamma, static_cast<double>(step / every)); };
}

Schedule cosine_schedule(int64_t steps, double floor) {
  require_positive("cosine schedule", "step count", static_cast<double>(steps));
  if (!(floor >= 0 && floor <= 1)) throw std::invalid_argument("cosine schedule: floor must lie in [0, 1]");
  return [steps, floor](int64_t step) {
    const double progress = std::min(1.0, static_cast<double>(step) / static_cast<double>(steps));
    return floor + (1.0 - floor) * 0.5 * (1.0 + std::cos(M_PI * progress));
  };
}

Schedule linear_warmup(int64_t warmup_steps, Schedule inner) {
  require_positive("linear warm-up", "step count", static_cast<double>(warmup_steps));
  if (!inner) throw std::invalid_argument("linear warm-up: empty inner schedule");
  return [warmup_steps, inner = std::move(inner)](int64_t step) {
    const double ramp = std::min(1.0, static_cast<double>(step + 1) / static_cast<double>(warmup_steps));
    return ramp * inner(step);
  };
}

Schedule kl_annealing(double b0, int64_t steps) {
  if (!(b0 >= 0 && b0 <= 1)) throw std::invalid_argument("KL annealing: initial weight must lie in [0, 1]");
  require_positive("KL annealing", "step count", static_cast<double>(steps));
  return [b0, steps](int64_t step) {
    return b0 + (1.0 - b0) * std::min(1.0, static_cast<double>(step) / static_cast<double>(steps));
  };
}

}  // namespace amortize::infer::optim
