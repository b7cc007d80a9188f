#include "amortize/vae/trainer.hpp"

#include "amortize/model/handlers.hpp"
#include "amortize/model/param_store.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include "amortize/infer/optim/adam.hpp"

#include <chrono>

namespace amortize::vae {
namespace {
// Switches distribution argument checks for a scope.
class ValidationScope {
 public:
  explicit ValidationScope(bool enabled) : previous_(dist::validation_enabled()) { dist::set_validation(enabled); }
  ~ValidationScope() { dist::set_validation(previous_); }
  ValidationScope(const ValidationScope&) = delete;
  ValidationScope& operator=(const ValidationScope&) = delete;

 private:
  bool previous_;
};

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

std::map<std::string, Tensor> store_parameters() {
  std::map<std::string, Tensor> out;
  auto& store = model::active_param_store();
  for (const auto& name : store.names()) out.emplace(name, store.entry(name).unconstrained);
  return out;
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
      bound_(options.objective, options.particles) {
  if (images_.dim() != 2 || images_.size(1) != vae_.options().pixels || images_.size(0) < 1) {
    throw std::invalid_argument("VaeTrainer: images must have shape (N, " + std::to_string(vae_.options().pixels) +
                                "), got " + dist::shape_string(images_.sizes()));
  }
  if (options_.batch_size < 1) throw std::invalid_argument("VaeTrainer: batch size must be positive");
  if (!(options_.learning_rate > 0)) throw std::invalid_argument("VaeTrainer: learning rate must be positive");
}

VaeTrainer::~VaeTrainer() = default;

EpochResult VaeTrainer::epoch() {
  const auto start = std::chrono::steady_clock::now();
  const int64_t n = images_.size(0);
  const Tensor order = at::randperm(n, generator_, at::TensorOptions().dtype(at::kLong));
  EpochResult result;
  result.epoch = ++epochs_;
  double bound_sum = 0.0;
  ValidationScope validation(options_.validate);
  FlushDenormalScope flush(options_.flush_denormal);
  for (int64_t begin = 0; begin < n; begin += options_.batch_size) {
    const Tensor indices = order.slice(0, begin, std::min(n, begin + options_.batch_size));
    const Tensor x = images_.index_select(0, indices);
    Tensor loss;
    {
      model::SeedHandler seed(generator_);
      loss = bound_.loss([&] { vae_.model(x, indices, n); }, [&] { vae_.guide(x, indices, n); });
    }
    if (!adam_) {
      adam_ = std::make_unique<infer::optim::Adam>(options_.learning_rate);
      adam_->add_parameters(store_parameters());
    }
    adam_->zero_grad();
    loss.backward();
    adam_->step();
    bound_sum += bound_.last_per_datum().sum().item<double>();
    ++result.steps;
  }
  result.train_bound = bound_sum / static_cast<double>(n);
  result.seconds = seconds_since(start);
  return result;
}

Evaluation evaluate(Vae& vae, const Tensor& images, BoundKind kind, int64_t particles, at::Generator generator,
                    int64_t max_elements) {
  if (particles < 1) throw std::invalid_argument("evaluate: particles must be at least 1");
  const auto start = std::chrono::steady_clock::now();
  at::NoGradGuard no_grad;
  ValidationScope validation(false);
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
