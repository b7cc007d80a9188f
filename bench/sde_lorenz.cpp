// Benchmark, experiment 2 (Lorenz-63, sigma = 10, beta = 8/3, rho = 28): the norm of the
// gradient of each method's per-point loss with respect to the drift's parameters, at the true
// parameters, as the training horizon T grows (1, 10, 50, 100 time units at dt = 0.005).
// The data: the Lorenz ODE solved by dopri5 (rtol = atol = 1e-9) from a point on the attractor,
// observed with unit Gaussian noise (seed 7). The drift is the Lorenz field with learnable
// (sigma, rho, beta), shared by both methods:
// - adjoint: the neural ODE's mean squared error over [0, T] from the first observation,
//   gradient by the adjoint method (dopri5, rtol = atol = 1e-6); it grows like exp(lambda T)
//   with the largest Lyapunov exponent lambda ~ 0.9;
// - ARCTA: -ELBO / N of one chunk (B = 256, M = 1, R = 1, S = 10, identity decoder with
//   observation sd 1) after 300 steps fitting the posterior with the drift held at the truth;
//   the mean and sd of the gradient norm over 32 chunk draws (the ARCTA estimate is local in
//   time, so its size does not depend on T).
// Prints one JSON object; writes sde_lorenz.png into the folder given as the first argument.
// Usage: sde_lorenz [png_folder] [max_horizon=100]
#include "amortize/infer/optim/adam.hpp"
#include "amortize/sde/adjoint.hpp"
#include "amortize/sde/experiment.hpp"

#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

using namespace amortize;
using Clock = std::chrono::steady_clock;
using at::Tensor;

namespace {

constexpr double kDt = 0.005;

// The Lorenz-63 field with parameters theta = (sigma, rho, beta): z [..., 3].
sde::DriftFn lorenz(const Tensor& theta) {
  return [theta](const Tensor& z, const Tensor&) {
    const Tensor x = z.select(-1, 0), y = z.select(-1, 1), w = z.select(-1, 2);
    return at::stack({theta[0] * (y - x), x * (theta[1] - w) - y, x * y - theta[2] * w}, -1);
  };
}

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

struct HorizonResult {
  double horizon = 0;
  int64_t points = 0;
  double adjoint_norm = 0, adjoint_seconds = 0;
  int64_t adjoint_nfe = 0;
  double arcta_norm_mean = 0, arcta_norm_sd = 0, arcta_mean_gradient_norm = 0, arcta_seconds_per_gradient = 0;
};

HorizonResult one_horizon(double horizon, const sde::TimeSeries& data, const Tensor& truth) {
  HorizonResult out;
  out.horizon = horizon;
  const int64_t n = static_cast<int64_t>(std::llround(horizon / kDt)) + 1;
  out.points = n;
  const sde::TimeSeries train{data.t.narrow(0, 0, n), data.x.narrow(0, 0, n)};
  // Adjoint.
  {
    const Tensor theta = truth.clone().requires_grad_(true);
    sde::NfeCounter fwd, bwd;
    const auto ao = sde::AdjointOptions::with_tolerance(1e-6, &fwd, &bwd);
    const Tensor tt = train.t.contiguous();
    const std::vector<double> times(tt.data_ptr<double>(), tt.data_ptr<double>() + n);
    const auto start = Clock::now();
    const Tensor sol = sde::odeint_adjoint(lorenz(theta), {theta}, train.x[0], times, ao);
    (sol - train.x).square().mean().backward();
    out.adjoint_seconds = seconds_since(start);
    out.adjoint_norm = theta.grad().norm().item<double>();
    out.adjoint_nfe = fwd.count() + bwd.count();
  }
  // ARCTA.
  {
    auto s = sde::predprey_settings();
    s.dtype = at::kDouble;
    s.model.observation_variance = 1.0;
    s.model.kernel.jitter = 1e-2;
    s.model.diffusion_init_loc = std::log(1e-2);
    s.warmup_steps = 100;
    const Tensor theta = truth.clone().requires_grad_(true);
    const sde::TimeSeries valid{data.t.narrow(0, n - 1, 1).clone(), data.x.narrow(0, n - 1, 1).clone()};
    sde::ArctaExperiment exp(s, train, valid);
    exp.model()->set_drift(lorenz(theta));
    infer::optim::Adam adam(s.lr);
    adam.add_parameters(exp.parameters());
    auto gen = at::make_generator<at::CPUGeneratorImpl>(21);
    int64_t step = 0;
    for (; step < 300; ++step) {
      adam.zero_grad();
      exp.loss(step, gen).backward();
      adam.step();
    }
    const int draws = 32;
    Tensor sum = at::zeros_like(truth);
    double norm_sum = 0, norm_sq = 0;
    const auto start = Clock::now();
    for (int k = 0; k < draws; ++k, ++step) {
      const Tensor g = torch::autograd::grad({exp.loss(step, gen)}, {theta})[0];
      const double norm = g.norm().item<double>();
      norm_sum += norm;
      norm_sq += norm * norm;
      sum += g;
    }
    out.arcta_seconds_per_gradient = seconds_since(start) / draws;
    out.arcta_norm_mean = norm_sum / draws;
    out.arcta_norm_sd = std::sqrt(std::max(0.0, norm_sq / draws - out.arcta_norm_mean * out.arcta_norm_mean));
    out.arcta_mean_gradient_norm = (sum / draws).norm().item<double>();
  }
  return out;
}

void plot(const std::filesystem::path& dir, const std::vector<HorizonResult>& results) {
  const auto data = dir / ".sde_lorenz.dat.tmp";
  const auto script = dir / ".sde_lorenz.gp.tmp";
  {
    std::ofstream o(data);
    o.precision(10);
    for (const auto& r : results)
      o << r.horizon << ' ' << r.adjoint_norm << ' ' << r.arcta_norm_mean << ' ' << r.arcta_norm_sd << '\n';
  }
  {
    std::ofstream o(script);
    o << "set terminal pngcairo size 900,560 noenhanced font 'DejaVu Sans,11'\nset output '"
      << (dir / "sde_lorenz.png").string() << "'\nset title 'Lorenz-63: gradient norm of the per-point loss at the true parameters'\n"
      << "set logscale xy\nset grid\nset xlabel 'training horizon T'\nset ylabel '|d loss / d(sigma, rho, beta)|'\n"
      << "set key top left\nplot '" << data.string() << "' using 1:2 with linespoints pt 7 lw 2 title 'neural ODE, adjoint (dopri5 1e-6)', '"
      << data.string() << "' using 1:3:4 with yerrorlines pt 5 lw 2 title 'ARCTA (mean and sd over 32 chunks)'\n";
  }
  const std::string cmd = "gnuplot '" + script.string() + "' >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) std::cerr << "sde_lorenz: gnuplot failed; no PNG\n";
  std::filesystem::remove(data);
  std::filesystem::remove(script);
}

}  // namespace

int main(int argc, char** argv) {
  at::set_num_threads(1);
  const std::string png_dir = argc > 1 ? argv[1] : "";
  const double max_horizon = argc > 2 ? std::atof(argv[2]) : 100.0;
  const auto opts = at::TensorOptions().dtype(at::kDouble);
  const Tensor truth = at::tensor({10.0, 28.0, 8.0 / 3.0}, opts);
  // The data: burn in onto the attractor, then 100 time units at dt = 0.005 with unit noise.
  sde::TimeSeries data;
  {
    at::NoGradGuard ng;
    const auto field = lorenz(truth);
    const sde::OdeFn f = [&](double, const Tensor& z) { return field(z, Tensor()); };
    sde::Dopri5Options o;
    o.rtol = o.atol = 1e-9;
    const Tensor start = sde::dopri5(f, at::ones({3}, opts), {0.0, 20.0}, o)[1];
    const int64_t n = static_cast<int64_t>(std::llround(100.0 / kDt)) + 1;
    data.t = at::arange(n, opts) * kDt;
    const Tensor tt = data.t.contiguous();
    const Tensor clean = sde::dopri5(f, start, std::vector<double>(tt.data_ptr<double>(), tt.data_ptr<double>() + n), o);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
    data.x = clean + at::randn(clean.sizes(), gen, opts);
  }
  nlohmann::json out;
  out["benchmark"] = "sde_lorenz";
  out["threads"] = 1;
  std::vector<HorizonResult> results;
  nlohmann::json runs = nlohmann::json::array();
  for (double horizon : {1.0, 10.0, 50.0, 100.0}) {
    if (horizon > max_horizon) break;
    const auto r = one_horizon(horizon, data, truth);
    results.push_back(r);
    runs.push_back({{"horizon", r.horizon},
                    {"points", r.points},
                    {"adjoint_gradient_norm", r.adjoint_norm},
                    {"adjoint_nfe", r.adjoint_nfe},
                    {"adjoint_seconds", r.adjoint_seconds},
                    {"arcta_gradient_norm_mean", r.arcta_norm_mean},
                    {"arcta_gradient_norm_sd", r.arcta_norm_sd},
                    {"arcta_mean_gradient_norm", r.arcta_mean_gradient_norm},
                    {"arcta_nfe_per_gradient", 10},
                    {"arcta_seconds_per_gradient", r.arcta_seconds_per_gradient}});
    std::cerr << runs.back().dump() << "\n";
  }
  out["runs"] = runs;
  if (!png_dir.empty()) plot(png_dir, results);
  std::cout << out.dump() << std::endl;
}
