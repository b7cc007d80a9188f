#include "amortize/pavi/training.hpp"

#include "amortize/infer/svi.hpp"
#include "amortize/model/param_store.hpp"
#include "amortize/pavi/iterate_average.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

namespace amortize::pavi {

int64_t averaging_start(int64_t steps, double average_from, int64_t steps_per_epoch) {
  const auto start = static_cast<int64_t>(std::ceil(average_from * static_cast<double>(steps)));
  const int64_t window = steps - start;
  if (steps_per_epoch < 2 || window < steps_per_epoch) return start;
  return steps - window / steps_per_epoch * steps_per_epoch;
}

TrainingTrace train(const infer::Program& model, const infer::Program& guide, PaviGuide* pavi,
                    const TrainingOptions& o) {
  if (o.steps < 1) throw std::invalid_argument("pavi::train: steps must be at least 1");
  if (o.particles < 1) throw std::invalid_argument("pavi::train: particles must be at least 1");
  const double decay = std::pow(o.final_learning_rate / o.learning_rate, 1.0 / static_cast<double>(o.steps));
  infer::Svi svi(model, guide, std::make_shared<infer::TraceElbo>(infer::ElboOptions{o.particles}),
                 {o.learning_rate, o.seed, decay});
  TrainingTrace r;
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  const int64_t global_start = averaging_start(o.steps, o.average_from, pavi ? pavi->steps_per_epoch() : 1);
  const int64_t local_start = averaging_start(o.steps, o.local_average_from, 1);
  IterateAverage average;
  for (int64_t i = 0; i < o.steps; ++i) {
    r.elbo.push_back(svi.step());
    if (pavi && i == 0) {
      // The guide's parameters are in the store once it has run.
      const auto global = pavi->global_parameter_names();
      std::vector<std::string> local;
      for (const auto& name : pavi->shared_parameter_names())
        if (std::find(global.begin(), global.end(), name) == global.end()) local.push_back(name);
      average.add_group(global, global_start);
      average.add_group(local, local_start);
    }
    average.record(i);
    r.seconds.push_back(elapsed());
    if (o.max_seconds > 0 && r.seconds.back() > o.max_seconds) break;
  }
  average.apply();
  r.steps = static_cast<int64_t>(r.elbo.size());
  r.train_seconds = elapsed();
  const int64_t tail = std::max<int64_t>(1, r.steps / 10);
  for (int64_t i = r.steps - tail; i < r.steps; ++i)
    r.final_elbo += r.elbo[static_cast<size_t>(i)] / static_cast<double>(tail);
  return r;
}

}  // namespace amortize::pavi
