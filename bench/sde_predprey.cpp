// Benchmark, experiment 1 (predator-prey): validation RMSE (of the mean of 128 forecast paths
// over t in 50..65, stochastic Heun at dt 0.01) against cumulative NFE and training wall time,
// for ARCTA (experiment 1's settings, and those of examples/sde/predprey.toml: SiLU drift,
// learning-rate decay and iterate averaging), for the neural ODE trained by the adjoint method
// (dopri5 at rtol = atol = 1e-4 and 1e-6, the same drift network, the authors' batches: 10
// windows of 8 points, MSE, Adam 1e-3) and for the latent SDE trained through an
// Euler-Maruyama solve (same batches, drift and optimiser; see sde/baselines.hpp). Validation
// checks are not counted in the wall time. Prints one JSON object; writes sde_predprey.png
// (RMSE against NFE and time) into the folder given as the second argument (default: no PNG).
// Usage: sde_predprey [arcta_seconds=10] [png_folder] [baseline_seconds=30 (0: no baselines)]
// Exploration knobs for the ARCTA runs (environment): SDE_STEPS (a step budget instead of
// seconds), SDE_LR, SDE_DRIFT_LR (a separate Adam for the drift), SDE_LR_DECAY, SDE_AVERAGING,
// SDE_AVG_START, SDE_WARMUP, SDE_JITTER, SDE_C_INIT, SDE_STRATA, SDE_SEED, SDE_F64,
// SDE_ONLY_ONE (only the first ARCTA run), SDE_NO_EM (no Euler-Maruyama baseline).
#include "amortize/infer/optim/adam.hpp"
#include "amortize/infer/optim/schedule.hpp"
#include "amortize/sde/baselines.hpp"
#include "amortize/sde/experiment.hpp"

#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>

using namespace amortize;
using Clock = std::chrono::steady_clock;
using at::Tensor;

namespace {

struct Check {
  int64_t step;
  double seconds;
  int64_t nfe;
  double rmse;
};

nlohmann::json summarize(const std::vector<Check>& checks, double seconds_per_step, double nfe_per_step) {
  nlohmann::json j;
  double best = std::numeric_limits<double>::infinity();
  for (const auto& c : checks) best = std::min(best, c.rmse);
  j["seconds_per_step"] = seconds_per_step;
  j["nfe_per_step"] = nfe_per_step;
  j["best_rmse"] = best;
  j["final_rmse"] = checks.empty() ? NAN : checks.back().rmse;
  for (double target : {0.02, 0.015}) {
    const std::string key = target == 0.02 ? "to_rmse_0.02" : "to_rmse_0.015";
    j[key] = nullptr;
    for (const auto& c : checks) {
      if (c.rmse <= target) {
        j[key] = {{"seconds", c.seconds}, {"nfe", c.nfe}, {"step", c.step}};
        break;
      }
    }
  }
  // Steadiness: the largest RMSE among the checks of the last quarter of the run.
  double late_max = 0;
  for (size_t i = checks.size() - checks.size() / 4; i < checks.size(); ++i) late_max = std::max(late_max, checks[i].rmse);
  j["max_rmse_last_quarter"] = late_max;
  nlohmann::json last = nlohmann::json::array();
  for (size_t i = checks.size() - std::min<size_t>(checks.size(), 5); i < checks.size(); ++i) last.push_back(checks[i].rmse);
  j["rmse_last_5_checks"] = last;
  nlohmann::json trace = nlohmann::json::array();
  for (const auto& c : checks) trace.push_back({c.step, c.seconds, c.nfe, c.rmse});
  j["trace_step_seconds_nfe_rmse"] = trace;
  return j;
}

std::vector<Check> run_arcta(double budget_seconds, int64_t check_every, double lr_decay, double averaging,
                             int64_t averaging_start, double& seconds_per_step,
                             const std::function<void(sde::ArctaExperimentSettings&)>& adjust = {}) {
  auto s = sde::predprey_settings();
  if (adjust) adjust(s);
  // The decay's horizon: what the budget allows at 2 ms per step (SDE_STEPS: a step budget instead).
  const int64_t step_budget = std::getenv("SDE_STEPS") ? std::atoll(std::getenv("SDE_STEPS")) : 0;
  s.steps = step_budget > 0 ? step_budget : static_cast<int64_t>(budget_seconds / 2e-3);
  if (std::getenv("SDE_JITTER")) s.model.kernel.jitter = std::atof(std::getenv("SDE_JITTER"));
  if (std::getenv("SDE_F64")) s.dtype = at::kDouble;
  if (std::getenv("SDE_LR")) s.lr = std::atof(std::getenv("SDE_LR"));
  if (std::getenv("SDE_WARMUP")) s.warmup_steps = std::atoll(std::getenv("SDE_WARMUP"));
  s.lr_decay = std::getenv("SDE_LR_DECAY") ? std::atof(std::getenv("SDE_LR_DECAY")) : lr_decay;
  s.averaging = std::getenv("SDE_AVERAGING") ? std::atof(std::getenv("SDE_AVERAGING")) : averaging;
  if (std::getenv("SDE_C_INIT")) s.model.diffusion_init_loc = std::atof(std::getenv("SDE_C_INIT"));
  if (std::getenv("SDE_STRATA")) s.mc.strata = std::atoll(std::getenv("SDE_STRATA"));
  s.averaging_start = std::getenv("SDE_AVG_START") ? std::atoll(std::getenv("SDE_AVG_START")) : averaging_start;
  if (std::getenv("SDE_SEED")) s.seed = std::strtoull(std::getenv("SDE_SEED"), nullptr, 10);
  sde::ArctaExperiment exp(s);
  // SDE_DRIFT_LR: the drift's parameters get their own Adam at this rate (exploration).
  const double drift_lr = std::getenv("SDE_DRIFT_LR") ? std::atof(std::getenv("SDE_DRIFT_LR")) : 0.0;
  std::map<std::string, Tensor> drift_params, other_params;
  for (const auto& [name, p] : exp.parameters())
    (drift_lr > 0 && name.rfind("drift.", 0) == 0 ? drift_params : other_params)[name] = p;
  infer::optim::Adam adam(s.lr), adam_drift(drift_lr > 0 ? drift_lr : s.lr);
  adam.add_parameters(other_params);
  if (!drift_params.empty()) adam_drift.add_parameters(drift_params);
  const int64_t horizon = s.lr_decay_steps > 0 ? s.lr_decay_steps : s.steps;
  const auto schedule = infer::optim::exponential_decay_over(s.lr_decay, horizon);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  auto vgen = at::make_generator<at::CPUGeneratorImpl>(12);
  std::vector<Check> checks;
  double train_seconds = 0;
  int64_t step = 0;
  while (step_budget > 0 ? step < step_budget : train_seconds < budget_seconds) {
    const auto start = Clock::now();
    for (int64_t k = 0; k < check_every; ++k, ++step) {
      adam.zero_grad();
      adam_drift.zero_grad();
      exp.loss(step, gen).backward();
      adam.step(schedule(std::min(step, horizon)));
      if (!drift_params.empty()) adam_drift.step(schedule(std::min(step, horizon)));
      exp.update_average();
    }
    train_seconds += std::chrono::duration<double>(Clock::now() - start).count();
    // Validate with the averaged parameters, then put the iterate back.
    std::map<std::string, Tensor> current;
    for (const auto& [name, p] : exp.parameters()) current[name] = p.detach().clone();
    exp.use_average();
    checks.push_back({step, train_seconds, exp.nfe().count(), exp.validate(128, vgen).rmse});
    {
      at::NoGradGuard ng;
      for (auto& [name, p] : exp.parameters()) p.copy_(current.at(name));
    }
  }
  seconds_per_step = train_seconds / static_cast<double>(step);
  return checks;
}

std::vector<double> valid_times(const sde::TimeSeries& valid) {
  const Tensor vt = valid.t.to(at::kDouble).contiguous();
  return {vt.data_ptr<double>(), vt.data_ptr<double>() + vt.numel()};
}

// What the two baselines share: the data, the drift network (seeded as ARCTA's runs are not:
// torch's global seed 0), the authors' batches (10 windows of 8 points) and Adam 1e-3, and a
// loop that trains `check_every` steps between validations (not counted in the time).
struct Baseline {
  sde::TimeSeries train, valid;
  sde::Mlp drift{nullptr};
  sde::DriftFn f;
  std::vector<Tensor> params;
  std::vector<double> vtimes;

  Baseline() {
    const auto opts = at::TensorOptions().dtype(at::kFloat);
    train = sde::read_time_series_csv("../shared/data/sde/predprey_train.csv", opts);
    valid = sde::read_time_series_csv("../shared/data/sde/predprey_valid.csv", opts);
    torch::manual_seed(0);
    drift = sde::Mlp(2, std::vector<int64_t>{64, 64, 64}, 2, sde::Activation::kRelu, opts);
    f = [d = drift](const Tensor& z, const Tensor&) mutable { return d->forward(z); };
    params = drift->parameters();
    vtimes = valid_times(valid);
  }

  // `loss` evaluates one batch's loss, `rmse` validates, `nfe` is the cumulative count.
  std::vector<Check> train_loop(double budget_seconds, int64_t check_every,
                                const std::function<Tensor(const sde::WindowBatch&)>& loss,
                                const std::function<double()>& rmse, const std::function<int64_t()>& nfe,
                                double& seconds_per_step, double& nfe_per_step) {
    infer::optim::Adam adam(1e-3);
    adam.add_parameters(params);
    sde::WindowBatcher batches(train, 8, 10, 5);
    std::vector<Check> checks;
    double train_seconds = 0;
    int64_t step = 0;
    while (train_seconds < budget_seconds) {
      const auto start = Clock::now();
      for (int64_t k = 0; k < check_every; ++k, ++step) {
        adam.zero_grad();
        loss(batches.next()).backward();
        adam.step();
      }
      train_seconds += std::chrono::duration<double>(Clock::now() - start).count();
      at::NoGradGuard ng;
      checks.push_back({step, train_seconds, nfe(), rmse()});
    }
    seconds_per_step = train_seconds / static_cast<double>(step);
    nfe_per_step = static_cast<double>(nfe()) / static_cast<double>(step);
    return checks;
  }
};

// The neural ODE by the adjoint method, MSE; validated by a dopri5 solve at the same tolerance
// from the first validation point.
std::vector<Check> run_adjoint(double tol, double budget_seconds, int64_t check_every, double& seconds_per_step,
                               double& nfe_per_step) {
  Baseline b;
  sde::NfeCounter fwd, bwd;
  const auto ao = sde::AdjointOptions::with_tolerance(tol, &fwd, &bwd);
  const auto rmse = [&] {
    const sde::OdeFn g = [&](double, const Tensor& z) { return b.drift->forward(z); };
    sde::Dopri5Options vo;
    vo.rtol = vo.atol = tol;
    return (sde::dopri5(g, b.valid.x[0], b.vtimes, vo) - b.valid.x).square().mean().sqrt().item<double>();
  };
  return b.train_loop(
      budget_seconds, check_every, [&](const sde::WindowBatch& batch) { return sde::adjoint_window_loss(b.f, b.params, batch, ao); },
      rmse, [&] { return fwd.count() + bwd.count(); }, seconds_per_step, nfe_per_step);
}

// The latent SDE trained by back-propagating through an Euler-Maruyama solve (dt 0.01, one
// path per window; log c learned from ARCTA's initial value). NFE: the forward solve's
// evaluations, doubled for the backward pass's vector-Jacobian products. Validated like
// ARCTA: the mean of 128 EM paths.
std::vector<Check> run_euler_maruyama(double budget_seconds, int64_t check_every, double& seconds_per_step,
                                      double& nfe_per_step) {
  Baseline b;
  const auto opts = b.valid.x.options();
  const Tensor log_c = at::full({2}, sde::predprey_settings().model.diffusion_init_loc, opts).requires_grad_(true);
  b.params.push_back(log_c);
  sde::NfeCounter nfe;
  const sde::EulerMaruyamaBaselineOptions eo;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(13);
  auto vgen = at::make_generator<at::CPUGeneratorImpl>(14);
  const auto rmse = [&] {
    sde::SdeSolveOptions so;
    so.method = sde::SdeMethod::kHeun;  // as ARCTA's validation (Euler's drift error is as large as the goal)
    so.dt = 1e-2;
    const sde::DiagonalSde model{b.f, sde::constant_diffusion((0.5 * log_c).exp())};
    const Tensor z0 = b.valid.x[0].unsqueeze(0).expand({128, 2}) + 1e-3 * at::randn({128, 2}, vgen, opts);
    const auto fc = sde::forecast(model, z0.contiguous(), b.vtimes, 128, so, vgen);
    return (fc.mean - b.valid.x).square().mean().sqrt().item<double>();
  };
  return b.train_loop(
      budget_seconds, check_every,
      [&](const sde::WindowBatch& batch) { return sde::euler_maruyama_window_loss(b.f, log_c, batch, eo, gen, &nfe); }, rmse,
      [&] { return 2 * nfe.count(); }, seconds_per_step, nfe_per_step);
}

void plot(const std::filesystem::path& dir, const std::map<std::string, std::vector<Check>>& runs) {
  const auto data = dir / ".sde_predprey.dat.tmp";
  const auto script = dir / ".sde_predprey.gp.tmp";
  {
    std::ofstream o(data);
    for (const auto& [name, checks] : runs) {
      o << "# " << name << "\n";
      for (const auto& c : checks) o << c.nfe << ' ' << c.seconds << ' ' << c.rmse << '\n';
      o << "\n\n";
    }
  }
  {
    std::ofstream o(script);
    o << "set terminal pngcairo size 1200,500 noenhanced font 'DejaVu Sans,11'\nset output '" << (dir / "sde_predprey.png").string()
      << "'\nset multiplot layout 1,2 title 'Predator-prey: validation RMSE of the mean of 128 forecast paths'\n"
      << "set logscale xy\nset grid\nset ylabel 'validation RMSE'\nset xlabel 'cumulative NFE'\nset key top right\n";
    for (int panel = 0; panel < 2; ++panel) {
      if (panel == 1) o << "set xlabel 'training wall time (s)'\n";
      o << "plot ";
      int idx = 0;
      for (const auto& [name, checks] : runs) {
        o << (idx ? ", " : "") << "'" << data.string() << "' index " << idx << " using " << (panel == 0 ? 1 : 2)
          << ":3 with linespoints pt 7 ps 0.5 title '" << name << "'";
        ++idx;
      }
      o << ", 0.015 with lines dt 2 lc rgb '#888888' title 'RMSE 0.015'\n";
    }
    o << "unset multiplot\n";
  }
  const std::string cmd = "gnuplot '" + script.string() + "' >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) std::cerr << "sde_predprey: gnuplot failed; no PNG\n";
  std::filesystem::remove(data);
  std::filesystem::remove(script);
}

}  // namespace

int main(int argc, char** argv) {
  at::set_num_threads(1);
  const double arcta_budget = argc > 1 ? std::atof(argv[1]) : 10.0;
  const std::string png_dir = argc > 2 ? argv[2] : "";
  const double adjoint_budget = argc > 3 ? std::atof(argv[3]) : 30.0;
  nlohmann::json out;
  out["benchmark"] = "sde_predprey";
  out["threads"] = 1;
  std::map<std::string, std::vector<Check>> runs;
  double sps = 0;
  // Experiment 1 as specified (Adam 1e-3, constant), and the settings of examples/sde/predprey.toml.
  runs["ARCTA"] = run_arcta(arcta_budget, 100, 1.0, 0.0, 0, sps);
  out["arcta"] = summarize(runs["ARCTA"], sps, 10.0);
  if (!std::getenv("SDE_ONLY_ONE")) {
    // examples/sde/predprey.toml: SiLU drift, Adam 3e-3 falling x0.05, warm-up 500, EMA 0.998
    // of the iterates from step 1000.
    runs["ARCTA_silu_ema"] = run_arcta(arcta_budget, 100, 0.05, 0.998, 1000, sps, [](sde::ArctaExperimentSettings& s) {
      s.lr = 3e-3;
      s.warmup_steps = 500;
      s.lr_decay_steps = 3000;
      s.model.drift_activation = sde::Activation::kSilu;
    });
    out["arcta_silu_ema"] = summarize(runs["ARCTA_silu_ema"], sps, 10.0);
  }
  for (double tol : {1e-4, 1e-6}) {
    if (adjoint_budget <= 0) break;
    double nps = 0;
    const std::string name = tol == 1e-4 ? "adjoint_tol_1e-4" : "adjoint_tol_1e-6";
    runs[name] = run_adjoint(tol, adjoint_budget, 25, sps, nps);
    out[name] = summarize(runs[name], sps, nps);
  }
  if (adjoint_budget > 0 && !std::getenv("SDE_NO_EM")) {
    double nps = 0;
    runs["latent_sde_euler_maruyama"] = run_euler_maruyama(adjoint_budget, 25, sps, nps);
    out["latent_sde_euler_maruyama"] = summarize(runs["latent_sde_euler_maruyama"], sps, nps);
  }
  out["peak_rss_mb"] = io::peak_rss_mb();
  if (!png_dir.empty()) plot(png_dir, runs);
  std::cout << out.dump() << std::endl;
}
