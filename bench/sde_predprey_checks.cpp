// Diagnostic for experiment 1 (predator-prey): trains ARCTA for a step budget and, at every
// check, records what moves the validation RMSE: `rmse` as `sde fit` validates (the mean of
// 128 paths, the settings' scheme), the same with one generator for every check (Monte Carlo
// noise of the check cancels between checks), the deterministic (c = 0) forecast's RMSE with
// stochastic Heun and with Euler at dt 0.01, the RMSE of a forecast inside the training span
// (t 35..50 from the observation at 35), the learned c = exp(loc) and its posterior sd, how far
// the drift's parameters moved since the last check, and the deterministic flow's period and
// x1 range over 40 time units relative to the true Lotka-Volterra flow's from the same start.
// Also prints floors: the RMSE of the true model's forecasts from the noisy first validation
// observation, by scheme and step. Prints one JSON object (each check also on stderr).
// Usage: sde_predprey_checks [steps=3000] [check_every=100]
// Knobs (environment): SDE_LR, SDE_LR_DECAY (over the whole run), SDE_WARMUP, SDE_SEED, SDE_R,
// SDE_S, SDE_B, SDE_AVERAGING and SDE_AVG_START (the checks then see the averaged parameters),
// SDE_DRIFT_ACT, SDE_F64, SDE_C_INIT_LOG (log c's start), SDE_C_FIXED (c not trained).
#include "amortize/infer/optim/adam.hpp"
#include "amortize/infer/optim/schedule.hpp"
#include "amortize/sde/experiment.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <iostream>

using namespace amortize;
using at::Tensor;

namespace {

double env(const char* name, double fallback) { return std::getenv(name) ? std::atof(std::getenv(name)) : fallback; }

// The mean period of x1 (upward crossings of its time average) and its range, over a path [T, 2].
std::pair<double, double> period_and_amplitude(const Tensor& path, const std::vector<double>& times) {
  const Tensor x = path.select(1, 0).to(at::kDouble).contiguous();
  const double* v = x.data_ptr<double>();
  const double level = x.mean().item<double>();
  std::vector<double> ups;
  for (size_t i = 1; i < times.size(); ++i)
    if (v[i - 1] < level && v[i] >= level)
      ups.push_back(times[i - 1] + (level - v[i - 1]) / (v[i] - v[i - 1]) * (times[i] - times[i - 1]));
  const double period = ups.size() < 2 ? NAN : (ups.back() - ups.front()) / static_cast<double>(ups.size() - 1);
  return {period, x.max().item<double>() - x.min().item<double>()};
}

sde::Forecast solve(const sde::DriftFn& f, const Tensor& sqrt_c, const Tensor& z0, const std::vector<double>& times,
                    int64_t paths, uint64_t seed, double dt = 1e-2, sde::SdeMethod method = sde::SdeMethod::kHeun) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  sde::SdeSolveOptions so;
  so.method = method;
  so.dt = dt;
  Tensor start = z0.unsqueeze(0).expand({paths, z0.size(0)}).contiguous();
  if (paths > 1) start = start + 1e-3 * at::randn(start.sizes(), gen, z0.options());
  return sde::forecast({f, sde::constant_diffusion(sqrt_c)}, start, times, paths, so, gen);
}

double rmse(const Tensor& a, const Tensor& b) { return (a - b).square().mean().sqrt().item<double>(); }

}  // namespace

int main(int argc, char** argv) {
  at::set_num_threads(1);
  const int64_t steps = argc > 1 ? std::atoll(argv[1]) : 3000;
  const int64_t every = argc > 2 ? std::atoll(argv[2]) : 100;
  auto s = sde::predprey_settings();
  s.steps = steps;
  s.lr = env("SDE_LR", s.lr);
  s.lr_decay = env("SDE_LR_DECAY", 1.0);
  s.warmup_steps = static_cast<int64_t>(env("SDE_WARMUP", static_cast<double>(s.warmup_steps)));
  s.seed = static_cast<uint64_t>(env("SDE_SEED", 0));
  s.mc.samples = static_cast<int64_t>(env("SDE_R", 1));
  s.mc.strata = static_cast<int64_t>(env("SDE_S", 10));
  s.chunk_size = static_cast<int64_t>(env("SDE_B", 256));
  if (std::getenv("SDE_DRIFT_ACT")) s.model.drift_activation = sde::activation_from_name(std::getenv("SDE_DRIFT_ACT"));
  if (std::getenv("SDE_F64")) s.dtype = at::kDouble;
  s.model.diffusion_init_loc = env("SDE_C_INIT_LOG", s.model.diffusion_init_loc);
  s.learn_diffusion = !std::getenv("SDE_C_FIXED");
  s.averaging = env("SDE_AVERAGING", 0.0);
  s.averaging_start = static_cast<int64_t>(env("SDE_AVG_START", 0));
  sde::ArctaExperiment exp(s);
  const auto& valid = exp.valid();
  const Tensor vt = valid.t.to(at::kDouble).contiguous();
  const std::vector<double> vtimes(vt.data_ptr<double>(), vt.data_ptr<double>() + vt.numel());
  std::vector<double> long_times;  // 40 time units (about 6 periods) for the period
  for (int k = 0; k <= 2000; ++k) long_times.push_back(vtimes[0] + 0.02 * k);
  const auto opts = valid.x.options();
  const Tensor x0 = valid.x[0];
  const Tensor zero_c = at::zeros({2}, opts);

  // The true flow (Lotka-Volterra (2/3, 4/3, 1, 1), g = 1e-3) from the same noisy start.
  const sde::DriftFn truth = [](const Tensor& z, const Tensor&) {
    const Tensor a = z.select(-1, 0), b = z.select(-1, 1);
    return at::stack({a * (2.0 / 3.0) - a * b * (4.0 / 3.0), a * b - b}, -1);
  };
  nlohmann::json out;
  out["benchmark"] = "sde_predprey_checks";
  const auto true_long = solve(truth, zero_c, x0, long_times, 1, 1).mean;
  const auto [true_period, true_amp] = period_and_amplitude(true_long, long_times);
  out["true_period"] = true_period;
  out["floor_rmse_true_ode_from_noisy_x0"] = rmse(solve(truth, zero_c, x0, vtimes, 1, 1).mean, valid.x);
  const auto euler = sde::SdeMethod::kEulerMaruyama;
  out["floor_rmse_true_ode_euler_dt_0.01"] = rmse(solve(truth, zero_c, x0, vtimes, 1, 1, 1e-2, euler).mean, valid.x);
  out["floor_rmse_true_ode_euler_dt_0.001"] = rmse(solve(truth, zero_c, x0, vtimes, 1, 1, 1e-3, euler).mean, valid.x);
  out["floor_rmse_true_ode_heun_dt_0.001"] = rmse(solve(truth, zero_c, x0, vtimes, 1, 1, 1e-3).mean, valid.x);
  // A window inside the training span: forecast t 35..50 from the training observation at 35.
  const auto& train = exp.data().trajectory(0);
  const int64_t i35 = (train.t.to(at::kDouble) < 35.0).sum().item<int64_t>();
  const Tensor held_x = train.x.narrow(0, i35, train.t.size(0) - i35);
  const Tensor ht = train.t.narrow(0, i35, train.t.size(0) - i35).to(at::kDouble).contiguous();
  const std::vector<double> htimes(ht.data_ptr<double>(), ht.data_ptr<double>() + ht.numel());
  out["floor_rmse_true_ode_heldin"] = rmse(solve(truth, zero_c, held_x[0], htimes, 1, 1).mean, held_x);
  out["floor_rmse_true_sde_128_paths"] =
      rmse(solve(truth, at::full({2}, 1e-3, opts), x0, vtimes, 128, 5).mean, valid.x);

  infer::optim::Adam adam(s.lr);
  adam.add_parameters(exp.parameters());
  const auto schedule = infer::optim::exponential_decay_over(s.lr_decay, s.steps);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(s.seed + 17);
  auto vgen = at::make_generator<at::CPUGeneratorImpl>(s.seed + 31);
  std::map<std::string, Tensor> previous;
  nlohmann::json checks = nlohmann::json::array();
  for (int64_t step = 0; step < steps; ++step) {
    adam.zero_grad();
    exp.loss(step, gen).backward();
    adam.step(schedule(step));
    exp.update_average();
    if ((step + 1) % every != 0) continue;
    at::NoGradGuard ng;
    std::map<std::string, Tensor> current;
    for (const auto& [name, p] : exp.parameters()) current[name] = p.detach().clone();
    exp.use_average();
    double moved = 0, size = 0;
    for (const auto& [name, p] : exp.parameters()) {
      if (name.rfind("drift.", 0) != 0) continue;
      if (previous.count(name)) moved += (p - previous[name]).square().sum().item<double>();
      size += p.square().sum().item<double>();
      previous[name] = p.detach().clone();
    }
    auto& model = exp.model();
    const Tensor sqrt_c = model->diffusion_loc().exp().sqrt();
    const auto f = model->drift_fn();
    const auto det_long = solve(f, zero_c, x0, long_times, 1, 1).mean;
    const auto [period, amp] = period_and_amplitude(det_long, long_times);
    const Tensor c = model->diffusion_loc().exp().to(at::kDouble);
    checks.push_back({{"step", step + 1},
                      {"rmse", exp.validate(128, vgen).rmse},
                      {"rmse_fixed_gen", rmse(solve(f, sqrt_c, x0, vtimes, 128, 99).mean, valid.x)},
                      {"rmse_det", rmse(solve(f, zero_c, x0, vtimes, 1, 1).mean, valid.x)},
                      {"rmse_det_euler",
                       rmse(solve(f, zero_c, x0, vtimes, 1, 1, 1e-2, sde::SdeMethod::kEulerMaruyama).mean, valid.x)},
                      {"rmse_heldin_det", rmse(solve(f, zero_c, held_x[0], htimes, 1, 1).mean, held_x)},
                      {"c", {c[0].item<double>(), c[1].item<double>()}},
                      {"c_sd_log", model->diffusion_scale().max().item<double>()},
                      {"drift_moved_rel", std::sqrt(moved / size)},
                      {"period_ratio", period / true_period},
                      {"amp_ratio", amp / true_amp},
                      {"lr_scale", schedule(step)}});
    std::cerr << checks.back().dump() << "\n";
    for (auto& [name, p] : exp.parameters()) p.copy_(current.at(name));
  }
  out["checks"] = checks;
  std::cout << out.dump() << std::endl;
}
