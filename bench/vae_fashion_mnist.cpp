// The VAE on Fashion-MNIST at full speed: seconds per epoch against the sgemm-limited time of
// the same epoch. Counts the FLOPs of the epoch's matrix products (forward, and backward for
// the weights and for every layer's input except the images), times a single-thread sgemm of
// exactly those shapes in this run, trains, and prints one JSON object.
//   vae_fashion_mnist [--epochs E] [--threads T] [--objective elbo|iwae] [--particles K]
//                     [--loglik-images N] [--data DIR] [--trace FILE] [--flush-denormal 0|1]
// Run from the repository root; needs Debian's dataset-fashion-mnist.
#include "amortize/model/param_store.hpp"
#include "amortize/vae/fashion_mnist.hpp"
#include "amortize/vae/threads.hpp"
#include "amortize/vae/trainer.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/profiler_legacy.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <string>
#include <vector>

using namespace amortize;

namespace {

struct MatMul {
  int64_t m, k, n;       // (m x k) @ (k x n)
  bool trans_a, trans_b;  // operand layouts as autograd issues them
};

// The products of one step on a batch of `b` rows with `p` particles (rows b * p after the encoder).
std::vector<MatMul> step_products(const vae::VaeOptions& o, int64_t b, int64_t p) {
  const int64_t bp = b * p;
  std::vector<MatMul> out;
  auto layer = [&](int64_t rows, int64_t in, int64_t outf, bool input_grad) {
    out.push_back({rows, in, outf, false, true});  // y = x W^T
    out.push_back({outf, rows, in, true, false});  // dW = dy^T x
    if (input_grad) out.push_back({rows, outf, in, false, false});  // dx = dy W
  };
  layer(b, o.pixels, o.hidden, false);   // encoder hidden
  layer(b, o.hidden, o.latent, true);    // loc
  layer(b, o.hidden, o.latent, true);    // log scale
  layer(bp, o.latent, o.hidden, true);   // decoder hidden
  layer(bp, o.hidden, o.pixels, true);   // logits
  return out;
}

double flops(const std::vector<MatMul>& products) {
  double f = 0;
  for (const auto& p : products) f += 2.0 * p.m * p.k * p.n;
  return f;
}

// Seconds for one pass over `products` with at::mm on float32 (median of repeats).
double time_products(const std::vector<MatMul>& products, int repeats) {
  std::vector<std::pair<at::Tensor, at::Tensor>> operands;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  for (const auto& p : products) {
    auto a = p.trans_a ? at::randn({p.k, p.m}, gen, at::kFloat).t() : at::randn({p.m, p.k}, gen, at::kFloat);
    auto b = p.trans_b ? at::randn({p.n, p.k}, gen, at::kFloat).t() : at::randn({p.k, p.n}, gen, at::kFloat);
    operands.emplace_back(a, b);
  }
  std::vector<at::Tensor> outs;
  for (auto& [a, b] : operands) outs.push_back(at::mm(a, b));
  std::vector<double> times;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    for (size_t i = 0; i < operands.size(); ++i) at::mm_out(outs[i], operands[i].first, operands[i].second);
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int64_t epochs = 1, particles = 1, loglik_images = 0;
  int threads = 1;
  std::string trace;
  bool flush_denormal = true;
  std::string objective = "elbo", dir = vae::kFashionMnistDir;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--epochs") epochs = std::stoll(value);
    else if (key == "--threads") threads = std::stoi(value);
    else if (key == "--objective") objective = value;
    else if (key == "--particles") particles = std::stoll(value);
    else if (key == "--loglik-images") loglik_images = std::stoll(value);
    else if (key == "--data") dir = value;
    else if (key == "--trace") trace = value;
    else if (key == "--flush-denormal") flush_denormal = value != "0";
    else {
      std::cerr << "vae_fashion_mnist: unknown option " << key << "\n";
      return 2;
    }
  }
  const vae::VaeOptions options;
  const int64_t batch = 256, n = 60000;
  auto data = vae::load_fashion_mnist(dir);

  // The sgemm limit: one thread, the epoch's exact shapes (full batches plus the last one).
  vae::set_threads(1);
  const int64_t full = n / batch, rest = n % batch;
  const auto full_products = step_products(options, batch, particles);
  const auto rest_products = step_products(options, rest, particles);
  const double epoch_flops = full * flops(full_products) + (rest ? flops(rest_products) : 0.0);
  const double sgemm_seconds = full * time_products(full_products, 40) + (rest ? time_products(rest_products, 40) : 0.0);

  const auto settings = vae::set_threads(threads);
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  vae::Vae net(options, at::make_generator<at::CPUGeneratorImpl>(1));
  vae::FitOptions fit;
  fit.objective = objective == "iwae" ? vae::BoundKind::ImportanceWeighted : vae::BoundKind::Elbo;
  fit.particles = particles;
  nlohmann::json out;
  vae::VaeTrainer trainer(net, data.train, fit);
  if (!trace.empty()) {
    // One epoch under LibTorch's profiler (a Chrome trace of every op), then stop.
    {
      torch::autograd::profiler::RecordProfile rec(trace);
      trainer.epoch();
    }
    std::cout << nlohmann::json{{"trace", trace}}.dump() << std::endl;
    return 0;
  }
  std::vector<double> seconds;
  for (int64_t e = 0; e < epochs; ++e) {
    auto r = trainer.epoch();
    seconds.push_back(r.seconds);
    auto test = vae::evaluate(net, data.test, vae::BoundKind::Elbo, 1, at::make_generator<at::CPUGeneratorImpl>(100 + e));
    out["epochs"].push_back({{"epoch", r.epoch}, {"seconds", r.seconds}, {"train_elbo", r.train_bound},
                             {"test_elbo", test.per_image}, {"test_elbo_seconds", test.seconds}});
  }
  std::vector<double> sorted = seconds;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2];
  out["threads"] = threads;
  out["openblas_threads"] = settings.openblas;
  out["openmp_threads"] = settings.openmp;
  out["objective"] = objective;
  out["particles"] = particles;
  out["flush_denormal"] = flush_denormal;
  out["epoch_matmul_gflop"] = epoch_flops / 1e9;
  out["sgemm_1thread_gflops"] = epoch_flops / sgemm_seconds / 1e9;
  out["sgemm_limited_seconds_per_epoch"] = sgemm_seconds;
  out["seconds_per_epoch_median"] = median;
  out["ratio_to_sgemm_limit"] = median / sgemm_seconds;
  if (loglik_images > 0) {
    auto images = data.test.slice(0, 0, std::min<int64_t>(loglik_images, data.test.size(0)));
    auto ll = vae::evaluate(net, images, vae::BoundKind::ImportanceWeighted, 5000, at::make_generator<at::CPUGeneratorImpl>(5));
    out["test_loglik_is5000"] = ll.per_image;
    out["test_loglik_is5000_images"] = ll.images;
    out["test_loglik_is5000_seconds"] = ll.seconds;
  }
  std::cout << out.dump(2) << std::endl;
  return 0;
}
