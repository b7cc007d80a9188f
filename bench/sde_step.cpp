// Benchmark: one ARCTA training step on predator-prey (experiment 1's settings: B = 256, M = 1,
// R = 1, S = 10, drift [64, 64, 64] ReLU, the shared Adam) on one thread. Prints one JSON
// object: milliseconds per step (median of 5 blocks of 200 steps), NFE per step, and the
// LibTorch dispatcher calls of one step (AMORTIZE_BENCH_OPS=1 lists them on stderr).
// Usage: sde_step [float32|float64] [S=10] [drift_activation=relu]
#include "amortize/infer/optim/adam.hpp"
#include "amortize/sde/experiment.hpp"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>

using namespace amortize;
using Clock = std::chrono::steady_clock;

namespace {
std::map<std::string, int64_t>* g_op_counts = nullptr;
std::unique_ptr<at::ObserverContext> count_op(const at::RecordFunction& fn) {
  if (g_op_counts) {
    ++(*g_op_counts)[fn.name()];
    if (std::getenv("AMORTIZE_BENCH_TRACE")) std::cerr << "TRACE " << fn.name() << "\n";
  }
  return nullptr;
}
}  // namespace

int main(int argc, char** argv) {
  at::set_num_threads(1);
  auto settings = sde::predprey_settings();
  if (argc > 1 && std::string(argv[1]) == "float64") settings.dtype = at::kDouble;
  if (argc > 2) settings.mc.strata = std::atoll(argv[2]);
  if (argc > 3) settings.model.drift_activation = sde::activation_from_name(argv[3]);
  sde::ArctaExperiment exp(settings);
  infer::optim::Adam adam(settings.lr);
  adam.add_parameters(exp.parameters());
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  auto step = [&](int64_t i) {
    adam.zero_grad();
    exp.loss(i, gen).backward();
    adam.step();
  };
  int64_t i = 0;
  for (; i < 50; ++i) step(i);
  // Ops of one step.
  std::map<std::string, int64_t> counts;
  auto handle = at::addThreadLocalCallback(
      at::RecordFunctionCallback(count_op).scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION}));
  g_op_counts = &counts;
  step(i++);
  g_op_counts = nullptr;
  at::removeCallback(handle);
  int64_t total_ops = 0;
  std::vector<std::pair<int64_t, std::string>> ranked;
  for (const auto& [name, n] : counts) {
    total_ops += n;
    ranked.emplace_back(n, name);
  }
  if (std::getenv("AMORTIZE_BENCH_OPS")) {
    std::sort(ranked.rbegin(), ranked.rend());
    for (const auto& [n, name] : ranked) std::cerr << n << " " << name << "\n";
  }
  // Phase split (forward / backward / optimiser), 500 steps.
  double t_fwd = 0, t_bwd = 0, t_opt = 0;
  for (int k = 0; k < 500; ++k) {
    const auto a = Clock::now();
    adam.zero_grad();
    const at::Tensor l = exp.loss(i++, gen);
    const auto b = Clock::now();
    l.backward();
    const auto c = Clock::now();
    adam.step();
    const auto d = Clock::now();
    t_fwd += std::chrono::duration<double, std::milli>(b - a).count() / 500;
    t_bwd += std::chrono::duration<double, std::milli>(c - b).count() / 500;
    t_opt += std::chrono::duration<double, std::milli>(d - c).count() / 500;
  }
  const int64_t nfe0 = exp.nfe().count();
  std::vector<double> blocks;
  const int per_block = 200;
  for (int b = 0; b < 5; ++b) {
    const auto start = Clock::now();
    for (int k = 0; k < per_block; ++k) step(i++);
    blocks.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count() / per_block);
  }
  const double nfe_per_step = static_cast<double>(exp.nfe().count() - nfe0) / (5.0 * per_block);
  std::sort(blocks.begin(), blocks.end());
  nlohmann::json out;
  out["benchmark"] = "sde_step";
  out["dtype"] = settings.dtype == at::kDouble ? "float64" : "float32";
  out["threads"] = 1;
  out["ms_per_step"] = blocks[2];
  out["ms_per_step_min"] = blocks[0];
  out["ms_per_step_max"] = blocks[4];
  out["nfe_per_step"] = nfe_per_step;
  out["ms_forward"] = t_fwd;
  out["ms_backward"] = t_bwd;
  out["ms_optimizer"] = t_opt;
  out["ops_per_step"] = total_ops;
  out["peak_rss_mb"] = io::peak_rss_mb();
  std::cout << out.dump() << std::endl;
}
