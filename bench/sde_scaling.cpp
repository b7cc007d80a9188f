// Benchmark, experiment 4. (a) Scaling in the series' length: seconds and peak memory per
// ARCTA training step (experiment 1's model and settings, one thread) on synthetic 2-d series
// of 10^3 ... 10^7 points (a noisy limit cycle at spacing 0.1); seconds per step are the median
// of 10 blocks of 100 steps (the mean beside it). Each length runs in its own
// process (this program re-runs itself with --length N), so peak memory is per length; the
// data's own storage is reported beside it. The peak is reset (/proc/self/clear_refs) after
// the series is built and the first steps ran, so peak_rss_mb is that of the training steps.
// (b) Stiffness: a 2-d Ornstein-Uhlenbeck process dz = A z dt + 0.1 dW with
// A = R diag(-1, -k) R^T (R a 45 degree rotation, stiffness ratio k = 1 ... 10^4), 2000 points
// at spacing 0.01 observed with noise sd 0.01; the drift is linear, f(z) = W z, W learned from
// A. Seconds and NFE per training step for ARCTA (B = 256, R = 1, S = 10) and for the neural
// ODE by the adjoint method (dopri5, rtol = atol = 1e-4, batches of 10 windows of 8 points);
// the explicit solver's steps, and so its NFE, grow with k, ARCTA's do not. Float64 (in float32
// dopri5's error estimate breaks down on the fast mode at k >= 1000). Prints one JSON object.
// Usage: sde_scaling [max_exponent=7 (below 3: no length runs)] [max_stiffness_exponent=4 (-1: none)]
//                    [OUT_DIR: also writes OUT_DIR/sde_scaling.json and sde_scaling.png]
#include "amortize/infer/optim/adam.hpp"
#include "amortize/sde/baselines.hpp"
#include "amortize/sde/experiment.hpp"

#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <string>
#include <vector>

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
  // Blocks of steps, and the median block: a shared host's hiccups hit single blocks.
  const int blocks = 10, block_steps = 100;
  std::vector<double> block_seconds;
  for (int b = 0; b < blocks; ++b) {
    const auto start = Clock::now();
    for (int k = 0; k < block_steps; ++k) step(i++);
    block_seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count() / block_steps);
  }
  const double mean = std::accumulate(block_seconds.begin(), block_seconds.end(), 0.0) / blocks;
  std::nth_element(block_seconds.begin(), block_seconds.begin() + blocks / 2, block_seconds.end());
  const double sec = block_seconds[blocks / 2];
  const double peak = io::peak_rss_mb();
  return {{"length", n},           {"seconds_per_step", sec},    {"seconds_per_step_mean", mean},
          {"peak_rss_mb", peak},   {"setup_peak_rss_mb", setup_peak},
          {"data_mb", data_mb},    {"peak_rss_minus_data_mb", peak - data_mb},
          {"startup_rss_mb", rss0}, {"chunks", exp.data().chunks(s.chunk_size).size()}};
}

// A = R diag(-1, -k) R^T with R the rotation by 45 degrees.
Tensor stiff_matrix(double k, const at::TensorOptions& opts) {
  const double h = 0.5;
  return at::tensor({-h * (1 + k), -h * (1 - k), -h * (1 - k), -h * (1 + k)}, opts).view({2, 2});
}

nlohmann::json one_stiffness(double k) {
  const auto opts = at::TensorOptions().dtype(at::kDouble);
  const int64_t n = 2000;
  const double dt = 0.01, sigma = 0.1;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  sde::TimeSeries train, valid;
  {
    // Exact transitions in the eigenbasis (coordinates u = R^T z), then rotated back.
    at::NoGradGuard ng;
    const auto d = at::TensorOptions().dtype(at::kDouble);
    const Tensor lambda = at::tensor({1.0, k}, d);
    const Tensor decay = at::exp(-lambda * dt);
    const Tensor sd = (sigma * sigma * (1 - at::exp(-2 * lambda * dt)) / (2 * lambda)).sqrt();
    const Tensor noise = at::randn({n, 2}, gen, d);
    std::vector<Tensor> u{at::tensor({1.0, 1.0}, d)};
    for (int64_t i = 1; i < n; ++i) u.push_back(decay * u.back() + sd * noise[i]);
    const double c = std::sqrt(0.5);
    const Tensor rot = at::tensor({c, -c, c, c}, d).view({2, 2});
    const Tensor z = at::stack(u).matmul(rot.t());
    train.t = (at::arange(n, d) * dt).to(opts);
    train.x = (z + 0.01 * at::randn({n, 2}, gen, d)).to(opts);
    valid = {train.t.narrow(0, n - 20, 20).clone(), train.x.narrow(0, n - 20, 20).clone()};
  }
  const Tensor a = stiff_matrix(k, opts);
  const auto linear = [](const Tensor& w) {
    return sde::DriftFn([w](const Tensor& z, const Tensor&) { return z.matmul(w.t()); });
  };
  const int warm = 10, steps = 40;
  // ARCTA.
  double arcta_seconds = 0, arcta_nfe = 0;
  {
    auto s = sde::predprey_settings();
    s.dtype = at::kDouble;
    s.model.diffusion_init_loc = std::log(sigma * sigma);
    sde::ArctaExperiment exp(s, train, valid);
    const Tensor w = a.clone().requires_grad_(true);
    exp.model()->set_drift(linear(w));
    auto params = exp.parameters();
    params["drift_matrix"] = w;
    infer::optim::Adam adam(s.lr);
    adam.add_parameters(params);
    int64_t i = 0;
    const auto step = [&] {
      adam.zero_grad();
      exp.loss(i++, gen).backward();
      adam.step();
    };
    for (int k2 = 0; k2 < warm; ++k2) step();
    const int64_t nfe0 = exp.nfe().count();
    const auto start = Clock::now();
    for (int k2 = 0; k2 < steps; ++k2) step();
    arcta_seconds = std::chrono::duration<double>(Clock::now() - start).count() / steps;
    arcta_nfe = static_cast<double>(exp.nfe().count() - nfe0) / steps;
  }
  // Adjoint.
  double adjoint_seconds = 0, adjoint_nfe = 0;
  {
    const Tensor w = a.clone().requires_grad_(true);
    infer::optim::Adam adam(1e-3);
    adam.add_parameters(std::vector<Tensor>{w});
    sde::NfeCounter fwd, bwd;
    const auto ao = sde::AdjointOptions::with_tolerance(1e-4, &fwd, &bwd);
    sde::WindowBatcher batches(train, 8, 10, 3);
    const auto f = linear(w);
    const auto step = [&] {
      adam.zero_grad();
      sde::adjoint_window_loss(f, {w}, batches.next(), ao).backward();
      adam.step();
    };
    const int adjoint_steps = k >= 1e3 ? 10 : steps;
    try {
      for (int k2 = 0; k2 < 2; ++k2) step();
    } catch (const std::exception& e) {
      std::cerr << "stiffness " << k << ": " << e.what() << "\n";
      throw;
    }
    const int64_t nfe0 = fwd.count() + bwd.count();
    const auto start = Clock::now();
    for (int k2 = 0; k2 < adjoint_steps; ++k2) step();
    adjoint_seconds = std::chrono::duration<double>(Clock::now() - start).count() / adjoint_steps;
    adjoint_nfe = static_cast<double>(fwd.count() + bwd.count() - nfe0) / adjoint_steps;
  }
  return {{"stiffness_ratio", k},
          {"arcta_seconds_per_step", arcta_seconds},
          {"arcta_nfe_per_step", arcta_nfe},
          {"adjoint_seconds_per_step", adjoint_seconds},
          {"adjoint_nfe_per_step", adjoint_nfe}};
}

// Left: seconds and peak memory (less the data) per step against the series' length; right:
// seconds per step against the stiffness ratio, ARCTA and the adjoint.
void plot(const std::filesystem::path& dir, const nlohmann::json& out) {
  const auto lengths = dir / ".sde_scaling_lengths.dat.tmp", stiffness = dir / ".sde_scaling_stiffness.dat.tmp";
  const auto script = dir / ".sde_scaling.gp.tmp";
  {
    std::ofstream o(lengths);
    o.precision(10);
    for (const auto& r : out["runs"])
      o << r["length"].get<int64_t>() << ' ' << 1000 * r["seconds_per_step"].get<double>() << ' '
        << r["peak_rss_minus_data_mb"].get<double>() << '\n';
  }
  {
    std::ofstream o(stiffness);
    o.precision(10);
    for (const auto& r : out["stiffness"])
      o << r["stiffness_ratio"].get<double>() << ' ' << 1000 * r["arcta_seconds_per_step"].get<double>() << ' '
        << 1000 * r["adjoint_seconds_per_step"].get<double>() << '\n';
  }
  {
    std::ofstream o(script);
    o << "set terminal pngcairo size 1200,500 noenhanced font 'DejaVu Sans,11'\nset output '"
      << (dir / "sde_scaling.png").string() << "'\nset multiplot layout 1,2\nset grid\nset logscale x\n"
      << "set title 'ARCTA: cost of a training step against the series length'\nset xlabel 'points in the series'\n"
      << "set ylabel 'ms per step'\nset y2label 'peak RSS less the data (MB)'\nset ytics nomirror\nset y2tics\n"
      << "set yrange [0:*]\nset y2range [0:*]\nset key bottom right\n"
      << "plot '" << lengths.string() << "' using 1:2 with linespoints pt 7 lw 2 title 'ms per step', '"
      << lengths.string() << "' using 1:3 axes x1y2 with linespoints pt 5 lw 2 title 'memory (right axis)'\n"
      << "unset y2tics\nunset y2label\nset ytics mirror\nset logscale xy\nset yrange [*:*]\n"
      << "set title 'Stiff linear system: ms per training step'\nset xlabel 'stiffness ratio k'\n"
      << "set ylabel 'ms per step'\nset key top left\n"
      << "plot '" << stiffness.string() << "' using 1:2 with linespoints pt 7 lw 2 title 'ARCTA (10 NFE a step)', '"
      << stiffness.string() << "' using 1:3 with linespoints pt 5 lw 2 title 'neural ODE, adjoint (dopri5 1e-4)'\n"
      << "unset multiplot\n";
  }
  const std::string cmd = "gnuplot '" + script.string() + "' >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) std::cerr << "sde_scaling: gnuplot failed; no PNG\n";
  std::filesystem::remove(lengths);
  std::filesystem::remove(stiffness);
  std::filesystem::remove(script);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 2 && std::string(argv[1]) == "--length") {
    std::cout << one_length(std::atoll(argv[2])).dump() << std::endl;
    return 0;
  }
  const int max_exp = argc > 1 ? std::atoi(argv[1]) : 7;
  const int max_stiff = argc > 2 ? std::atoi(argv[2]) : 4;
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
  // A figure of the last run over the same figure of the first.
  const auto ratio = [](const nlohmann::json& rows, const char* key) {
    return rows.back()[key].get<double>() / rows.front()[key].get<double>();
  };
  out["runs"] = runs;
  if (!runs.empty()) {
    out["seconds_per_step_ratio_last_to_first"] = ratio(runs, "seconds_per_step");
    out["rss_minus_data_ratio_last_to_first"] = ratio(runs, "peak_rss_minus_data_mb");
  }
  at::set_num_threads(1);
  nlohmann::json stiff = nlohmann::json::array();
  double k = 1;
  for (int e = 0; e <= max_stiff; ++e, k *= 10) stiff.push_back(one_stiffness(k));
  out["stiffness"] = stiff;
  if (stiff.size() > 1) {
    out["stiffness_arcta_seconds_ratio_last_to_first"] = ratio(stiff, "arcta_seconds_per_step");
    out["stiffness_adjoint_seconds_ratio_last_to_first"] = ratio(stiff, "adjoint_seconds_per_step");
  }
  std::cout << out.dump() << std::endl;
  if (argc > 3) {
    const std::filesystem::path dir(argv[3]);
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "sde_scaling.json") << out.dump(2) << "\n";
    plot(dir, out);
  }
}
