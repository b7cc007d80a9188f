// The VAE on Fashion-MNIST at full speed: seconds per epoch against the sgemm-limited time of
// the same epoch. Counts the FLOPs of the epoch's matrix products (forward, and backward for
// the weights and for every layer's input except the images), times a single-thread sgemm of
// exactly those shapes in this run, trains, and prints one JSON object. Also runs one pass of a
// step's products after every training step (not counted in the epoch's time), so the ratio to
// the sgemm limit is measured under the same machine load as the epoch ("interleaved").
//   vae_fashion_mnist [--epochs E] [--threads T[,T2...]] [--objective elbo|iwae] [--particles K]
//                     [--seed S] [--loglik-images N] [--data DIR] [--trace FILE]
//                     [--flush-denormal 0|1] [--interleave 0|1] [--parallel data|blas]
//                     [--split-weights-probe 0|1] [--steps N]
// With several thread counts the epochs cycle through them and the JSON has the speed-up, and
// for `--parallel data` the data-parallel sgemm limit: T threads each running the products of
// its share of a batch at once (smaller products run at a lower rate than the whole batch's).
// The probe adds a second such limit with each thread's weight gradients split by output rows
// over the whole batch. `--steps N` is for instruction counting (valgrind --tool=callgrind
// --toggle-collect='amortize::vae::VaeTrainer::epoch()'): epochs of N steps on the first N
// batches of images, without the sgemm reference or the test evaluation; the last epoch also
// counts LibTorch's dispatched operations and tensor allocations per step.
// Run from the repository root; needs Debian's dataset-fashion-mnist.
#include "amortize/model/param_store.hpp"
#include "amortize/vae/fashion_mnist.hpp"
#include "amortize/vae/threads.hpp"
#include "amortize/vae/trainer.hpp"
#include "amortize/vae/worker_pool.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/record_function.h>
#include <c10/core/CPUAllocator.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/profiler_legacy.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

using namespace amortize;

namespace {

struct MatMul {
  int64_t m, k, n;       // (m x k) @ (k x n)
  bool trans_a, trans_b;  // operand layouts as autograd issues them
};

// The products of one step on a batch of `b` rows with `p` particles (rows b * p after the encoder).
// With `weight_share` in (0, 1], only that share of every weight gradient's output rows, over the
// whole batch `weight_rows` (a worker's part of the weight gradients split by columns).
std::vector<MatMul> step_products(const vae::VaeOptions& o, int64_t b, int64_t p, double weight_share = 0,
                                  int64_t weight_rows = 0) {
  const int64_t bp = b * p;
  std::vector<MatMul> out;
  auto layer = [&](int64_t rows, int64_t in, int64_t outf, bool input_grad) {
    out.push_back({rows, in, outf, false, true});  // y = x W^T
    if (weight_share > 0) {
      const int64_t full_rows = weight_rows * (rows / b);
      out.push_back({std::max<int64_t>(1, static_cast<int64_t>(outf * weight_share)), full_rows, in, true, false});
    } else {
      out.push_back({outf, rows, in, true, false});  // dW = dy^T x
    }
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

// One pass of at::mm on float32 over a step's products, operands made once.
class ProductPass {
 public:
  explicit ProductPass(const std::vector<MatMul>& products) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
    for (const auto& p : products) {
      auto a = p.trans_a ? at::randn({p.k, p.m}, gen, at::kFloat).t() : at::randn({p.m, p.k}, gen, at::kFloat);
      auto b = p.trans_b ? at::randn({p.n, p.k}, gen, at::kFloat).t() : at::randn({p.k, p.n}, gen, at::kFloat);
      operands_.emplace_back(a, b);
      outs_.push_back(at::mm(a, b));
    }
  }
  double run() {
    const auto start = std::chrono::steady_clock::now();
    for (size_t i = 0; i < operands_.size(); ++i) at::mm_out(outs_[i], operands_[i].first, operands_[i].second);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  // Median of `repeats` passes.
  double median(int repeats) {
    std::vector<double> times;
    for (int r = 0; r < repeats; ++r) times.push_back(run());
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
  }

 private:
  std::vector<std::pair<at::Tensor, at::Tensor>> operands_;
  std::vector<at::Tensor> outs_;
};

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// One batch's products split over `workers` threads at once, each running its share's rows with
// one-thread BLAS: what `--parallel data` could reach if nothing else cost. Median seconds, and
// the median over runs of the slowest thread's CPU time (robust to other jobs on the machine).
// With `split_weights`, each thread's weight gradients are its share of the output rows over the
// whole batch instead of the whole gradient over its rows.
std::pair<double, double> data_parallel_products_median(const vae::VaeOptions& o, int64_t batch, int64_t particles,
                                                        int workers, int repeats, bool split_weights = false) {
  std::vector<std::unique_ptr<ProductPass>> passes;
  for (int w = 0; w < workers; ++w) {
    const int64_t rows = batch * (w + 1) / workers - batch * w / workers;
    passes.push_back(std::make_unique<ProductPass>(
        split_weights ? step_products(o, rows, particles, 1.0 / workers, batch) : step_products(o, rows, particles)));
  }
  vae::WorkerPool pool(workers);
  std::vector<double> times, cpu_times, cpu(static_cast<size_t>(workers));
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    pool.run([&](int64_t w) {
      const double c = thread_cpu_seconds();
      passes[static_cast<size_t>(w)]->run();
      cpu[static_cast<size_t>(w)] = thread_cpu_seconds() - c;
    });
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    cpu_times.push_back(*std::max_element(cpu.begin(), cpu.end()));
  }
  return {median_of(times), median_of(cpu_times)};
}

// Counts LibTorch's CPU tensor allocations (the allocator under every at::empty) in `--steps` mode.
class CountingAllocator final : public c10::Allocator {
 public:
  explicit CountingAllocator(c10::Allocator* base) : base_(base) {}
  c10::DataPtr allocate(size_t bytes) const override {
    count.fetch_add(1, std::memory_order_relaxed);
    return base_->allocate(bytes);
  }
  c10::DeleterFnPtr raw_deleter() const override { return base_->raw_deleter(); }
  mutable std::atomic<int64_t> count{0};

 private:
  c10::Allocator* base_;
};

// Dispatched operations by name (nested ones included: what LibTorch's dispatcher runs).
std::map<std::string, int64_t> op_counts;
std::mutex op_counts_mutex;

std::unique_ptr<at::ObserverContext> count_op(const at::RecordFunction& fn) {
  std::lock_guard<std::mutex> lock(op_counts_mutex);
  ++op_counts[fn.name()];
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t epochs = 1, particles = 1, loglik_images = 0, profile_steps = 0;
  uint64_t seed = 1;
  std::vector<int> thread_list{1};
  std::string trace;
  bool flush_denormal = true, interleave = true, data_parallel = true, split_probe = false;
  std::string objective = "elbo", dir = vae::kFashionMnistDir;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--epochs") epochs = std::stoll(value);
    else if (key == "--threads") {
      thread_list.clear();
      for (size_t at = 0; at < value.size();) {
        const size_t comma = std::min(value.find(',', at), value.size());
        thread_list.push_back(std::stoi(value.substr(at, comma - at)));
        at = comma + 1;
      }
    }
    else if (key == "--objective") objective = value;
    else if (key == "--particles") particles = std::stoll(value);
    else if (key == "--loglik-images") loglik_images = std::stoll(value);
    else if (key == "--data") dir = value;
    else if (key == "--trace") trace = value;
    else if (key == "--flush-denormal") flush_denormal = value != "0";
    else if (key == "--interleave") interleave = value != "0";
    else if (key == "--seed") seed = std::stoull(value);
    else if (key == "--parallel") data_parallel = value == "data";
    else if (key == "--split-weights-probe") split_probe = value != "0";
    else if (key == "--steps") profile_steps = std::stoll(value);
    else {
      std::cerr << "vae_fashion_mnist: unknown option " << key << "\n";
      return 2;
    }
  }
  const vae::VaeOptions options;
  const int64_t batch = 256, n = 60000;
  auto data = vae::load_fashion_mnist(dir);
  auto fit_options = [&] {
    vae::FitOptions fit;
    fit.objective = objective == "iwae" ? vae::BoundKind::ImportanceWeighted : vae::BoundKind::Elbo;
    fit.particles = particles;
    fit.seed = seed;
    fit.flush_denormal = flush_denormal;
    return fit;
  };
  if (profile_steps > 0) {
    model::ParamStore store;
    model::ParamStoreScope scope(store);
    vae::Vae net(options, at::make_generator<at::CPUGeneratorImpl>(seed));
    vae::FitOptions fit = fit_options();
    fit.workers = data_parallel ? thread_list.front() : 1;
    vae::set_threads(data_parallel ? 1 : thread_list.front());
    vae::VaeTrainer trainer(net, data.train.slice(0, 0, std::min(n, profile_steps * batch)), fit);
    static CountingAllocator counting(c10::GetCPUAllocator());
    for (int64_t e = 0; e < epochs; ++e) {
      // The last epoch (after the first, which registers the parameters) counts ops and allocations.
      const bool count = e + 1 == epochs && epochs > 1;
      std::optional<at::CallbackHandle> handle;
      if (count) {
        c10::SetCPUAllocator(&counting, /*priority=*/255);
        handle = at::addGlobalCallback(at::RecordFunctionCallback(count_op));
      }
      const auto r = trainer.epoch();
      nlohmann::json row{{"epoch", r.epoch}, {"steps", r.steps}, {"seconds", r.seconds}, {"train_elbo", r.train_bound}};
      if (count) {
        at::removeCallback(*handle);
        c10::SetCPUAllocator(c10::GetDefaultCPUAllocator(), 255);
        const double steps = static_cast<double>(r.steps);
        int64_t ops = 0;
        for (const auto& [name, c] : op_counts) {
          ops += c;
          row["ops_by_name_per_step"][name] = static_cast<double>(c) / steps;
        }
        row["ops_per_step"] = static_cast<double>(ops) / steps;
        row["tensor_allocations_per_step"] = static_cast<double>(counting.count.load()) / steps;
      }
      std::cout << row.dump() << std::endl;
    }
    return 0;
  }

  // The sgemm limit: one thread, the epoch's exact shapes (full batches plus the last one).
  vae::set_threads(1);
  const int64_t full = n / batch, rest = n % batch;
  const auto full_products = step_products(options, batch, particles);
  const auto rest_products = step_products(options, rest, particles);
  const double full_flops = flops(full_products);
  const double epoch_flops = full * full_flops + (rest ? flops(rest_products) : 0.0);
  ProductPass full_pass(full_products), rest_pass(rest_products);
  const double sgemm_seconds = full * full_pass.median(40) + (rest ? rest_pass.median(40) : 0.0);
  std::map<int, double> data_parallel_limit, data_parallel_cpu_limit, split_weights_limit,
      split_weights_cpu_limit;  // per thread count above 1
  for (int t : thread_list) {
    if (t < 2 || !data_parallel || data_parallel_limit.count(t)) continue;
    const auto whole = data_parallel_products_median(options, batch, particles, t, 40);
    const auto last = rest ? data_parallel_products_median(options, rest, particles, t, 40) : std::make_pair(0.0, 0.0);
    data_parallel_limit[t] = full * whole.first + last.first;
    data_parallel_cpu_limit[t] = full * whole.second + last.second;
    if (split_probe) {
      const auto split = data_parallel_products_median(options, batch, particles, t, 40, true);
      const auto split_last =
          rest ? data_parallel_products_median(options, rest, particles, t, 40, true) : std::make_pair(0.0, 0.0);
      split_weights_limit[t] = full * split.first + split_last.first;
      split_weights_cpu_limit[t] = full * split.second + split_last.second;
    }
  }
  // Interleaved: one single-thread pass of a full step's products after every training step, so
  // that the reference sees the same machine load as the epoch (other jobs share the cores).
  std::vector<double> passes;
  auto interleaved_pass = [&] {
    vae::set_threads(1);
    passes.push_back(full_pass.run());
  };

  model::ParamStore store;
  model::ParamStoreScope scope(store);
  vae::Vae net(options, at::make_generator<at::CPUGeneratorImpl>(seed));
  vae::FitOptions fit = fit_options();
  int current_threads = thread_list.front();
  // T threads: T data-parallel workers with single-threaded BLAS each (--parallel data), or one
  // worker with T OpenBLAS threads (--parallel blas); LibTorch's OpenMP pool is 1 either way.
  auto apply_threads = [&](vae::VaeTrainer& t) {
    t.set_workers(data_parallel ? current_threads : 1);
    return vae::set_threads(data_parallel ? 1 : current_threads);
  };
  if (interleave) {
    fit.between_steps = [&] {
      interleaved_pass();
      if (!data_parallel) vae::set_threads(current_threads);
    };
  }
  nlohmann::json out;
  vae::VaeTrainer trainer(net, data.train, fit);
  if (!trace.empty()) {
    // One epoch under LibTorch's profiler (a Chrome trace of every op), then stop.
    apply_threads(trainer);
    {
      torch::autograd::profiler::RecordProfile rec(trace);
      trainer.epoch();
    }
    std::cout << nlohmann::json{{"trace", trace}}.dump() << std::endl;
    return 0;
  }
  // Epochs cycle through the thread counts, so each count's median comes from the same stretch
  // of machine load as the others'.
  std::map<int, std::vector<double>> seconds, ratios, cpu_seconds;
  for (int64_t e = 0; e < epochs; ++e) {
    current_threads = thread_list[static_cast<size_t>(e) % thread_list.size()];
    const auto settings = apply_threads(trainer);
    passes.clear();
    auto r = trainer.epoch();
    auto test = vae::evaluate(net, data.test, vae::BoundKind::Elbo, 1, at::make_generator<at::CPUGeneratorImpl>(100 + e));
    nlohmann::json row{{"epoch", r.epoch}, {"threads", current_threads}, {"workers", trainer.options().workers}, {"openblas_threads", settings.openblas},
                       {"openmp_threads", settings.openmp}, {"seconds", r.seconds},
                       {"critical_cpu_seconds", r.critical_cpu_seconds}, {"train_elbo", r.train_bound},
                       {"test_elbo", test.per_image}, {"test_elbo_seconds", test.seconds}};
    seconds[current_threads].push_back(r.seconds);
    cpu_seconds[current_threads].push_back(r.critical_cpu_seconds);
    if (!passes.empty()) {
      const double pass = std::accumulate(passes.begin(), passes.end(), 0.0) / static_cast<double>(passes.size());
      const double limit = pass * (static_cast<double>(full) + (rest ? flops(rest_products) / full_flops : 0.0));
      row["sgemm_limited_seconds_interleaved"] = limit;
      row["ratio_to_sgemm_limit_interleaved"] = r.seconds / limit;
      ratios[current_threads].push_back(r.seconds / limit);
    }
    out["epochs"].push_back(row);
  }
  out["parallel"] = data_parallel ? "data" : "blas";
  out["objective"] = objective;
  out["particles"] = particles;
  out["seed"] = seed;
  out["flush_denormal"] = flush_denormal;
  out["epoch_matmul_gflop"] = epoch_flops / 1e9;
  out["sgemm_1thread_gflops"] = epoch_flops / sgemm_seconds / 1e9;
  out["sgemm_limited_seconds_per_epoch"] = sgemm_seconds;
  for (const auto& [t, limit] : data_parallel_limit) {
    out["data_parallel_sgemm_limit"]["threads_" + std::to_string(t)] = {
        {"seconds_per_epoch", limit},
        {"speedup_over_1_thread", sgemm_seconds / limit},
        {"slowest_thread_cpu_seconds_per_epoch", data_parallel_cpu_limit[t]}};
    if (split_weights_limit.count(t)) {
      out["data_parallel_sgemm_limit"]["threads_" + std::to_string(t)]["weight_gradients_split_by_rows_seconds"] =
          split_weights_limit[t];
      out["data_parallel_sgemm_limit"]["threads_" + std::to_string(t)]
         ["weight_gradients_split_by_rows_slowest_thread_cpu_seconds"] = split_weights_cpu_limit[t];
    }
  }
  for (const auto& [t, s] : seconds) {
    const std::string key = "threads_" + std::to_string(t);
    out[key]["seconds_per_epoch_median"] = median_of(s);
    out[key]["seconds_per_epoch_min"] = *std::min_element(s.begin(), s.end());
    out[key]["critical_cpu_seconds_per_epoch_median"] = median_of(cpu_seconds[t]);
    out[key]["ratio_to_sgemm_limit"] = median_of(s) / sgemm_seconds;
    if (ratios.count(t)) out[key]["ratio_to_sgemm_limit_interleaved_median"] = median_of(ratios[t]);
    if (data_parallel_limit.count(t)) {
      out[key]["sgemm_limited_seconds_data_parallel"] = data_parallel_limit[t];
      out[key]["ratio_to_data_parallel_sgemm_limit"] = median_of(s) / data_parallel_limit[t];
      out[key]["critical_cpu_ratio_to_data_parallel_sgemm_cpu_limit"] =
          median_of(cpu_seconds[t]) / data_parallel_cpu_limit[t];
    }
  }
  if (seconds.size() > 1) {
    // Speed-up of each count over the first, and in units of the interleaved reference (robust to load).
    const int base = thread_list.front();
    for (const auto& [t, s] : seconds) {
      if (t == base) continue;
      const std::string key = "threads_" + std::to_string(t);
      out[key]["speedup_over_" + std::to_string(base)] = median_of(seconds[base]) / median_of(s);
      // Other jobs on the host only ever slow an epoch down: the fastest epochs bound the noise.
      out[key]["speedup_over_" + std::to_string(base) + "_fastest_epochs"] =
          *std::min_element(seconds[base].begin(), seconds[base].end()) / *std::min_element(s.begin(), s.end());
      // Load-robust: the critical path's CPU time, as if each worker had a core of its own.
      out[key]["speedup_over_" + std::to_string(base) + "_critical_cpu"] =
          median_of(cpu_seconds[base]) / median_of(cpu_seconds[t]);
      if (ratios.count(t) && ratios.count(base)) {
        out[key]["speedup_over_" + std::to_string(base) + "_interleaved"] = median_of(ratios[base]) / median_of(ratios[t]);
      }
    }
  }
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
