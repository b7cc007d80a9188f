// Timing of one ARCTA training step on predator-prey (B = 256, M = 1, R = 1, S = 10, drift MLP
// [64, 64, 64] ReLU, Adam). Disabled by default: a benchmark, not a test; run with
// --gtest_also_run_disabled_tests --gtest_filter='*ArctaTiming*'.
#include "amortize/sde/arcta.hpp"
#include "amortize/sde/solvers.hpp"

#include <gtest/gtest.h>
#include <torch/optim/adam.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>

namespace amortize::sde {
namespace {

TimeSeries read_csv(const std::string& path, const at::TensorOptions& opts) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::string line;
  std::getline(in, line);
  std::vector<double> t, x;
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string cell;
    std::vector<double> row;
    while (std::getline(ss, cell, ',')) row.push_back(std::stod(cell));
    t.push_back(row[0]);
    x.push_back(row[1]);
    x.push_back(row[2]);
  }
  const auto n = static_cast<int64_t>(t.size());
  return {at::tensor(t, at::kDouble).to(opts), at::tensor(x, at::kDouble).view({n, 2}).to(opts)};
}

TEST(ArctaTiming, DISABLED_PredatorPreyStep) {
  at::set_num_threads(1);
  const auto opts = at::TensorOptions().dtype(at::kFloat);
  TimeSeriesDataset data({read_csv("../shared/data/sde/predprey_train.csv", opts)}, 1);
  ArctaModelOptions o;
  o.latent_dim = 2;
  o.observation_dim = 2;
  o.window = 1;
  o.encoder_hidden = {64, 64};
  o.decoder_hidden = {64, 64};
  o.drift_hidden = {64, 64, 64};
  o.drift_activation = Activation::kRelu;
  o.kernel.warp_hidden = {32, 32};
  o.kernel.time_scale = 0.5 * 255 * 0.1;
  o.kernel.jitter = 1e-3;
  torch::manual_seed(0);
  ArctaModel model(o, opts);
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(1e-3));
  ChunkSampler sampler(data, 256, 1);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  NfeCounter nfe;
  auto step = [&] {
    adam.zero_grad();
    const auto terms = arcta_elbo(model, data, sampler.next(), sampler.num_chunks(), {1, 10}, 0.5, gen, &nfe);
    (-terms.elbo / static_cast<double>(data.total_windows())).backward();
    adam.step();
  };
  for (int i = 0; i < 50; ++i) step();
  const int n = 500;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) step();
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / n;
  std::cout << "ARCTA predator-prey step: " << sec * 1e3 << " ms, NFE per step " << nfe.count() / (n + 50) << "\n";
}

// A short training run on predator-prey, then the validation RMSE of the mean of 128 forecast
// paths started from the posterior at the last training time.
TEST(ArctaTiming, DISABLED_PredatorPreyShortFit) {
  at::set_num_threads(1);
  const auto opts = at::TensorOptions().dtype(at::kFloat);
  const auto train = read_csv("../shared/data/sde/predprey_train.csv", opts);
  const auto valid = read_csv("../shared/data/sde/predprey_valid.csv", opts);
  TimeSeriesDataset data({train}, 1);
  ArctaModelOptions o;
  o.latent_dim = 2;
  o.observation_dim = 2;
  o.encoder_hidden = {32, 32};
  o.encoder_activation = Activation::kRelu;
  o.encoder_skip = true;
  o.identity_decoder = true;
  o.likelihood = Likelihood::kGaussianFixed;
  o.observation_variance = 1e-4;
  o.kernel.warp_activation = Activation::kRelu;
  o.drift_hidden = {64, 64, 64};
  o.drift_activation = Activation::kRelu;
  o.kernel.warp_hidden = {32, 32};
  o.kernel.time_scale = 0.5 * 255 * 0.1;
  o.kernel.jitter = 1e-3;
  torch::manual_seed(0);
  ArctaModel model(o, opts);
  const int64_t steps = 4000, warmup = 1000;
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(1e-3));
  ChunkSampler sampler(data, 256, 1);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  NfeCounter nfe;
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < steps; ++i) {
    adam.zero_grad();
    const double beta = std::min(1.0, static_cast<double>(i + 1) / warmup);
    const auto terms = arcta_elbo(model, data, sampler.next(), sampler.num_chunks(), {1, 10}, beta, gen, &nfe);
    (-terms.elbo / static_cast<double>(data.total_windows())).backward();
    adam.step();
    if (i % 500 == 0 || i + 1 == steps)
      std::cout << "step " << i << " elbo/N " << terms.elbo.item<double>() / data.total_windows() << " residual "
                << terms.residual_integral.item<double>() << " c " << model->diffusion_loc().exp() << "\n";
  }
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  at::NoGradGuard ng;
  // As the authors validate: 128 paths from the first validation observation (+ 1e-3 noise).
  std::vector<double> times;
  for (int64_t i = 0; i < valid.t.size(0); ++i) times.push_back(valid.t[i].item<double>());
  DiagonalSde sde{model->drift_fn(), constant_diffusion(model->diffusion_loc().exp().sqrt())};
  const auto z0 = valid.x[0] + 1e-3 * at::randn({128, 2}, gen, opts);
  SdeSolveOptions so;
  so.dt = 0.01;
  const auto f = forecast(sde, z0, times, 128, so, gen);
  const auto x_mean = model->decode_mean(f.paths).mean(1);
  const double rmse = (x_mean - valid.x).square().mean().sqrt().item<double>();
  std::cout << "ARCTA predator-prey: " << steps << " steps in " << sec << " s, NFE " << nfe.count()
            << ", validation RMSE " << rmse << "\n";
}

}  // namespace
}  // namespace amortize::sde
