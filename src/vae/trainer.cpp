#include "amortize/vae/trainer.hpp"

#include "amortize/dist/validation.hpp"
#include "amortize/model/handlers.hpp"
#include "amortize/model/param_store.hpp"

#include "amortize/vae/fused_adam.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <malloc.h>

#include <chrono>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

namespace amortize::vae {
namespace {
// Flushes denormal floats to zero for a scope (this thread): Adam's second moments and
// softplus of very negative inputs otherwise hit the CPU's slow denormal path.
class FlushDenormalScope {
 public:
  explicit FlushDenormalScope(bool enabled) : enabled_(enabled) {
    if (enabled_) enabled_ = at::globalContext().setFlushDenormal(true);
  }
  ~FlushDenormalScope() {
    if (enabled_) at::globalContext().setFlushDenormal(false);
  }
  FlushDenormalScope(const FlushDenormalScope&) = delete;
  FlushDenormalScope& operator=(const FlushDenormalScope&) = delete;

 private:
  bool enabled_;
};

std::vector<Tensor> store_parameters() {
  std::vector<Tensor> out;
  auto& store = model::active_param_store();
  for (const auto& name : store.names()) out.push_back(store.entry(name).unconstrained);
  return out;
}

// Every step allocates and frees the same few hundred kilobyte-sized tensors; glibc's default
// returns them to the kernel (heap trimming, mmap above its threshold), and the kernel then
// zeroes fresh pages on the next step: 15 % of an epoch. Keep freed memory in the process
// (process-wide, like any allocator setting; the peak resident size stays one step's worth).
void keep_freed_memory() {
#ifdef M_TRIM_THRESHOLD
  static const bool done = [] {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    return true;
  }();
  (void)done;
#endif
}

// dst = src.index_select(0, indices) into dst's storage; a memcpy per row for contiguous CPU
// tensors (index_select takes about four times longer on the VAE's 256 random rows).
void gather_rows(const Tensor& src, const Tensor& indices, Tensor& dst) {
  dst.resize_({indices.size(0), src.size(1)});
  if (!src.device().is_cpu() || !src.is_contiguous() || !dst.is_contiguous() || indices.scalar_type() != at::kLong) {
    at::index_select_out(dst, src, 0, indices);
    return;
  }
  const Tensor idx = indices.contiguous();
  const int64_t* rows = idx.data_ptr<int64_t>();
  const size_t row_bytes = static_cast<size_t>(src.size(1)) * src.element_size();
  const auto* from = static_cast<const char*>(src.data_ptr());
  auto* to = static_cast<char*>(dst.data_ptr());
  for (int64_t i = 0; i < idx.numel(); ++i) {
    if (rows[i] < 0 || rows[i] >= src.size(0)) throw std::out_of_range("VaeTrainer: row index out of range");
    std::memcpy(to + static_cast<size_t>(i) * row_bytes, from + static_cast<size_t>(rows[i]) * row_bytes, row_bytes);
  }
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}
}  // namespace

VaeTrainer::VaeTrainer(Vae& vae, Tensor images, FitOptions options)
    : vae_(vae),
      images_(std::move(images)),
      options_(options),
      generator_(at::make_generator<at::CPUGeneratorImpl>(options.seed)),
      bounds_(1, LocalBound(options.objective, options.particles)) {
  if (images_.dim() != 2 || images_.size(1) != vae_.options().pixels || images_.size(0) < 1) {
    throw std::invalid_argument("VaeTrainer: images must have shape (N, " + std::to_string(vae_.options().pixels) +
                                "), got " + dist::shape_string(images_.sizes()));
  }
  if (options_.batch_size < 1) throw std::invalid_argument("VaeTrainer: batch size must be positive");
  set_workers(options_.workers);
  if (!(options_.learning_rate > 0)) throw std::invalid_argument("VaeTrainer: learning rate must be positive");
  batch_ = at::empty({0, images_.size(1)}, images_.options());
  keep_freed_memory();
}

VaeTrainer::~VaeTrainer() = default;

void VaeTrainer::set_workers(int64_t workers) {
  if (workers < 1) throw std::invalid_argument("VaeTrainer: workers must be at least 1");
  options_.workers = workers;
  while (bounds_.size() < static_cast<size_t>(workers)) bounds_.emplace_back(options_.objective, options_.particles);
}

void VaeTrainer::step_part(int64_t part, const Tensor& x, const Tensor& indices, int64_t n, double weight,
                           at::Generator& generator, model::ParamStore* store) {
  std::optional<model::ParamStoreScope> scope;
  std::optional<FlushDenormalScope> flush;
  if (store) {  // a worker thread: the store and the denormal mode are per thread
    scope.emplace(*store);
    flush.emplace(options_.flush_denormal);
  }
  Tensor loss;
  {
    model::SeedHandler seed(generator);
    loss = bounds_[static_cast<size_t>(part)].loss([&] { vae_.model(x, indices, n); }, [&] { vae_.guide(x, indices, n); });
  }
  if (weight != 1.0) loss = loss * weight;
  loss.backward();
}

EpochResult VaeTrainer::epoch() {
  const auto start = std::chrono::steady_clock::now();
  const int64_t n = images_.size(0);
  const Tensor order = at::randperm(n, generator_, at::TensorOptions().dtype(at::kLong));
  EpochResult result;
  result.epoch = ++epochs_;
  double bound_sum = 0.0, excluded = 0.0;
  dist::ValidationScope validation(options_.validate);
  FlushDenormalScope flush(options_.flush_denormal);
  for (int64_t begin = 0; begin < n; begin += options_.batch_size) {
    const Tensor indices = order.slice(0, begin, std::min(n, begin + options_.batch_size));
    // Gathered into the same buffer every step (the previous step's graph, which saved it, is gone).
    gather_rows(images_, indices, batch_);
    const Tensor& x = batch_;
    const int64_t rows = x.size(0);
    // The first step runs on this thread alone: it registers the parameters in the store.
    const int64_t parts = adam_ ? std::min<int64_t>(options_.workers, rows) : 1;
    if (parts == 1) {
      step_part(0, x, indices, n, 1.0, generator_);
    } else {
      // Data parallel: part w of the rows on thread w with its own generator seeded from the
      // trainer's; the parts' losses are weighted by their share of the batch, so the summed
      // gradient is the whole batch's. Parameters' gradients accumulate under autograd's lock.
      auto& store = model::active_param_store();
      std::vector<at::Generator> gens;
      {
        auto* impl = at::check_generator<at::CPUGeneratorImpl>(generator_);
        std::lock_guard<std::mutex> lock(generator_.mutex());
        for (int64_t w = 0; w < parts; ++w) gens.push_back(at::make_generator<at::CPUGeneratorImpl>(impl->random64()));
      }
      std::vector<std::exception_ptr> errors(static_cast<size_t>(parts));
      auto run = [&](int64_t w) {
        try {
          const int64_t a = rows * w / parts, b = rows * (w + 1) / parts;
          step_part(w, x.slice(0, a, b), indices.slice(0, a, b), n, static_cast<double>(b - a) / static_cast<double>(rows),
                    gens[static_cast<size_t>(w)], w == 0 ? nullptr : &store);
        } catch (...) {
          errors[static_cast<size_t>(w)] = std::current_exception();
        }
      };
      std::vector<std::thread> threads;
      for (int64_t w = 1; w < parts; ++w) threads.emplace_back(run, w);
      run(0);
      for (auto& t : threads) t.join();
      for (const auto& e : errors) {
        if (e) std::rethrow_exception(e);
      }
    }
    if (!adam_) adam_ = std::make_unique<FusedAdam>(store_parameters(), options_.learning_rate);
    adam_->step(static_cast<int>(parts));
    for (int64_t w = 0; w < parts; ++w) bound_sum += bounds_[static_cast<size_t>(w)].last_per_datum().sum().item<double>();
    ++result.steps;
    if (options_.between_steps) {
      const auto outside = std::chrono::steady_clock::now();
      options_.between_steps();
      excluded += seconds_since(outside);
    }
  }
  result.train_bound = bound_sum / static_cast<double>(n);
  result.seconds = seconds_since(start) - excluded;
  return result;
}

Evaluation evaluate(Vae& vae, const Tensor& images, BoundKind kind, int64_t particles, at::Generator generator,
                    int64_t max_elements) {
  if (particles < 1) throw std::invalid_argument("evaluate: particles must be at least 1");
  const auto start = std::chrono::steady_clock::now();
  at::NoGradGuard no_grad;
  dist::ValidationScope validation(false);
  FlushDenormalScope flush(true);
  const int64_t n = images.size(0);
  const int64_t pixels = vae.options().pixels;
  // Particles run in chunks whose tensors stay cache-sized; the chunks' per-image bounds combine
  // exactly: log mean over all K = logsumexp_c(log mean_c + log K_c) - log K (means for the ELBO).
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(particles, max_elements / pixels));
  const int64_t batch = std::max<int64_t>(1, std::min<int64_t>(n, max_elements / (chunk * pixels)));
  model::SeedHandler seed(generator);
  double sum = 0.0;
  for (int64_t begin = 0; begin < n; begin += batch) {
    const Tensor indices = at::arange(begin, std::min(n, begin + batch), at::TensorOptions().dtype(at::kLong));
    const Tensor x = images.slice(0, begin, begin + indices.size(0));
    std::vector<Tensor> parts;
    std::vector<double> sizes;
    for (int64_t done = 0; done < particles; done += chunk) {
      const int64_t k = std::min(chunk, particles - done);
      LocalBound bound(kind, k);
      bound.loss([&] { vae.model(x, indices, n); }, [&] { vae.guide(x, indices, n); });
      parts.push_back(bound.last_per_datum().to(at::kDouble));
      sizes.push_back(static_cast<double>(k));
    }
    Tensor per_datum;
    if (parts.size() == 1) {
      per_datum = parts[0];
    } else if (kind == BoundKind::Elbo) {
      per_datum = at::zeros_like(parts[0]);
      for (size_t c = 0; c < parts.size(); ++c) per_datum += parts[c] * (sizes[c] / static_cast<double>(particles));
    } else {
      std::vector<Tensor> shifted;
      for (size_t c = 0; c < parts.size(); ++c) shifted.push_back(parts[c] + std::log(sizes[c]));
      per_datum = at::logsumexp(at::stack(shifted), 0) - std::log(static_cast<double>(particles));
    }
    sum += per_datum.sum().item<double>();
  }
  Evaluation out;
  out.per_image = sum / static_cast<double>(n);
  out.seconds = seconds_since(start);
  out.images = n;
  out.particles = particles;
  return out;
}

}  // namespace amortize::vae
