// Benchmark, experiment 4 (scaling in the series' length): seconds and peak memory per ARCTA
// training step (experiment 1's model and settings, one thread) on synthetic 2-d series of
// 10^3 ... 10^7 points (a noisy limit cycle at spacing 0.1). Each length runs in its own
// process (this program re-runs itself with --length N), so peak memory is per length; the
// data's own storage is reported beside it. The peak is reset (/proc/self/clear_refs) after
// the series is built and the first steps ran, so peak_rss_mb is that of the training steps. Prints one JSON object.
// Usage: sde_scaling [max_exponent=7]
#include "amortize/infer/optim/adam.hpp"
#include "amortize/sde/experiment.hpp"

#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

using namespace amortize;
using Clock = std::chrono::steady_clock;

namespace {

nlohmann::json one_length(int64_t n) {
  at::set_num_threads(1);
  const double rss0 = io::peak_rss_mb();
  const auto opts = at::TensorOptions().dtype(at::kFloat);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  sde::TimeSeries train, valid;
  {
    at::NoGradGuard ng;
    train.t = at::arange(n, opts.dtype(at::kDouble)).mul_(0.1).to(at::kFloat);
    const at::Tensor phase = train.t * 0.7;
    train.x = at::stack({phase.cos(), phase.sin()}, 1).add_(at::randn({n, 2}, gen, opts), 0.01);
    valid.t = train.t.narrow(0, 0, 20).clone();
    valid.x = train.x.narrow(0, 0, 20).clone();
  }
  const double data_mb = static_cast<double>(train.t.nbytes() + train.x.nbytes()) / (1024.0 * 1024.0);
  auto s = sde::predprey_settings();
  sde::ArctaExperiment exp(s, train, valid);
  train = {};
  infer::optim::Adam adam(s.lr);
  adam.add_parameters(exp.parameters());
  auto step = [&](int64_t i) {
    adam.zero_grad();
    exp.loss(i, gen).backward();
    adam.step();
  };
  int64_t i = 0;
  for (; i < 30; ++i) step(i);
  const double setup_peak = io::peak_rss_mb();
  // Reset the peak (VmHWM) to the current resident size, so that the peak below is that of
  // the training steps alone, not of building the synthetic series.
  { std::ofstream("/proc/self/clear_refs") << "5"; }
  const int steps = 300;
  const auto start = Clock::now();
  for (int k = 0; k < steps; ++k) step(i++);
  const double sec = std::chrono::duration<double>(Clock::now() - start).count() / steps;
  const double peak = io::peak_rss_mb();
  return {{"length", n},           {"seconds_per_step", sec},    {"peak_rss_mb", peak}, {"setup_peak_rss_mb", setup_peak},
          {"data_mb", data_mb},    {"peak_rss_minus_data_mb", peak - data_mb},
          {"startup_rss_mb", rss0}, {"chunks", exp.data().chunks(s.chunk_size).size()}};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 2 && std::string(argv[1]) == "--length") {
    std::cout << one_length(std::atoll(argv[2])).dump() << std::endl;
    return 0;
  }
  const int max_exp = argc > 1 ? std::atoi(argv[1]) : 7;
  nlohmann::json out;
  out["benchmark"] = "sde_scaling";
  out["threads"] = 1;
  nlohmann::json runs = nlohmann::json::array();
  for (int e = 3; e <= max_exp; ++e) {
    int64_t n = 1;
    for (int k = 0; k < e; ++k) n *= 10;
    const std::string cmd = std::string(argv[0]) + " --length " + std::to_string(n);
    FILE* pipe = popen(cmd.c_str(), "r");
    if (!pipe) return 1;
    std::string text;
    char buf[4096];
    while (fgets(buf, sizeof buf, pipe)) text += buf;
    if (pclose(pipe) != 0) {
      std::cerr << "sde_scaling: length " << n << " failed\n";
      return 1;
    }
    runs.push_back(nlohmann::json::parse(text));
  }
  out["runs"] = runs;
  const auto& first = runs.front();
  const auto& last = runs.back();
  out["seconds_per_step_ratio_last_to_first"] =
      last["seconds_per_step"].get<double>() / first["seconds_per_step"].get<double>();
  out["rss_minus_data_ratio_last_to_first"] =
      last["peak_rss_minus_data_mb"].get<double>() / first["peak_rss_minus_data_mb"].get<double>();
  std::cout << out.dump() << std::endl;
}
