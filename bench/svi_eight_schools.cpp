// Benchmark: SVI on eight schools (non-centred). Prints one JSON object with microseconds per
// step for AutoNormal and AutoMultivariateNormal at 1 and 16 particles, and the wall seconds
// the full-rank guide (Laplace start) needs until every posterior mean is within 0.1
// reference sd (checked every 100 steps; time spent checking is not counted).
#include "amortize/infer/guides/auto_continuous.hpp"
#include "amortize/infer/guides/auto_normal.hpp"
#include "amortize/infer/predictive.hpp"
#include "amortize/infer/svi.hpp"
#include "amortize/model/param_store.hpp"
#include "posteriordb_reference.hpp"
#include "zoo.hpp"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <cmath>
#include <iostream>

using namespace amortize;
using Clock = std::chrono::steady_clock;

namespace {
const std::string kPosterior = "eight_schools-eight_schools_noncentered";

std::shared_ptr<infer::AutoGuide> make_guide(const std::string& kind, const infer::Program& model) {
  if (kind == "normal") return std::make_shared<infer::AutoNormal>(model);
  return std::make_shared<infer::AutoMultivariateNormal>(model);
}

double us_per_step(const infer::Program& model, const std::string& kind, int64_t particles) {
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  auto guide = make_guide(kind, model);
  infer::Svi svi(model, guide->program(), std::make_shared<infer::TraceElbo>(infer::ElboOptions{particles}), {0.01, 1});
  for (int i = 0; i < 50; ++i) svi.step();
  const int steps = 1000;
  auto start = Clock::now();
  for (int i = 0; i < steps; ++i) svi.step();
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count() / steps;
}

// LibTorch dispatcher calls (forward and backward, nested ones included) in one step: with a
// few microseconds each, their number is what a small model's step costs.
std::map<std::string, int64_t>* g_op_counts = nullptr;

std::unique_ptr<at::ObserverContext> count_op(const at::RecordFunction& fn) {
  if (g_op_counts) ++(*g_op_counts)[fn.name()];
  return nullptr;
}

int64_t ops_per_step(const infer::Program& model, const std::string& kind) {
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  auto guide = make_guide(kind, model);
  infer::Svi svi(model, guide->program(), std::make_shared<infer::TraceElbo>(), {0.01, 1});
  for (int i = 0; i < 5; ++i) svi.step();
  std::map<std::string, int64_t> counts;
  auto handle = at::addThreadLocalCallback(
      at::RecordFunctionCallback(count_op).scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION}));
  g_op_counts = &counts;
  svi.step();
  g_op_counts = nullptr;
  at::removeCallback(handle);
  int64_t total = 0;
  std::vector<std::pair<int64_t, std::string>> ranked;
  for (const auto& [name, n] : counts) {
    total += n;
    ranked.emplace_back(n, name);
  }
  if (std::getenv("AMORTIZE_BENCH_OPS")) {
    std::sort(ranked.rbegin(), ranked.rend());
    for (const auto& [n, name] : ranked) std::cerr << kind << " " << n << " " << name << "\n";
  }
  return total;
}

double worst_mean_error(const infer::Program& model, const infer::Program& guide,
                        const std::map<std::string, models::ReferenceStats>& ref) {
  return models::compare(infer::summarize(infer::posterior_draws(model, guide, 1000, 7)), ref).worst_mean_error_in_sds;
}
}  // namespace

int main() {
  at::set_num_threads(1);
  auto data = io::DataFile::read(models::posteriordb_dir(kPosterior) + "/data.json");
  auto model = models::find_model(kPosterior).make(data, at::TensorOptions().dtype(at::kDouble));
  nlohmann::json out;
  out["threads"] = 1;
  out["ops_per_step_autonormal_1_particle"] = ops_per_step(model, "normal");
  out["ops_per_step_automvn_1_particle"] = ops_per_step(model, "mvn");
  out["us_per_step_autonormal_1_particle"] = us_per_step(model, "normal", 1);
  out["us_per_step_autonormal_16_particles"] = us_per_step(model, "normal", 16);
  out["us_per_step_automvn_1_particle"] = us_per_step(model, "mvn", 1);
  out["us_per_step_automvn_16_particles"] = us_per_step(model, "mvn", 16);

  model::ParamStore store;
  model::ParamStoreScope scope(store);
  auto guide = std::make_shared<infer::AutoMultivariateNormal>(model);
  auto ref = models::read_reference_summary(kPosterior);
  double training = 0;
  auto start = Clock::now();
  guide->initialize_laplace();
  training += std::chrono::duration<double>(Clock::now() - start).count();
  infer::Svi svi(model, guide->program(), std::make_shared<infer::TraceElbo>(infer::ElboOptions{16}), {0.02, 1, 0.9995});
  int64_t steps = 0;
  double worst = worst_mean_error(model, guide->program(), ref);
  while (worst > 0.1 && steps < 10000) {
    start = Clock::now();
    for (int i = 0; i < 100; ++i) svi.step();
    training += std::chrono::duration<double>(Clock::now() - start).count();
    steps += 100;
    worst = worst_mean_error(model, guide->program(), ref);
  }
  out["automvn_laplace_seconds_to_0.1_sd"] = worst <= 0.1 ? training : -1.0;
  out["automvn_laplace_steps_to_0.1_sd"] = steps;
  out["automvn_worst_mean_error_sds"] = worst;
  std::cout << out.dump() << std::endl;
  return 0;
}
