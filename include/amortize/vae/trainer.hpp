// Training and evaluation of the VAE: epochs of shuffled minibatches, each step one Adam
// update on the per-datum bound (ELBO or IWAE with K particles) scaled to the whole data set,
// and batched evaluation of the per-image bound on held-out images (the ELBO with one
// particle, or the importance-sampled log-likelihood estimate with K = 5000).
#pragma once
#include "amortize/vae/local_bound.hpp"
#include "amortize/vae/vae.hpp"

#include <ATen/core/Generator.h>

#include <memory>

namespace amortize::infer::optim {
class Adam;
}

namespace amortize::vae {

struct FitOptions {
  int64_t batch_size = 256;
  double learning_rate = 1e-3;
  BoundKind objective = BoundKind::Elbo;
  int64_t particles = 1;
  uint64_t seed = 1;
  // Distribution argument checks (they read values back every step); off like Pyro's example.
  bool validate = false;
  // Flush denormal floats to zero while training (x86 FTZ/DAZ): denormal second moments in
  // Adam and softplus tails otherwise cost several times the arithmetic.
  bool flush_denormal = true;
};

struct EpochResult {
  int64_t epoch = 0;           // 1-based
  int64_t steps = 0;
  double seconds = 0.0;
  double train_bound = 0.0;    // per image: the epoch's minibatch bounds averaged over images
};

class VaeTrainer {
 public:
  // Optimises the VAE's parameters (registered in the active param store) on `images`
  // (N, pixels) of 0/1 values; every draw (shuffling, particles) comes from `seed`.
  VaeTrainer(Vae& vae, Tensor images, FitOptions options);
  ~VaeTrainer();
  // One pass over the images in a fresh random order (the last batch may be smaller).
  EpochResult epoch();
  at::Generator& generator() { return generator_; }
  const FitOptions& options() const { return options_; }

 private:
  Vae& vae_;
  Tensor images_;
  FitOptions options_;
  at::Generator generator_;
  LocalBound bound_;
  std::unique_ptr<infer::optim::Adam> adam_;
  int64_t epochs_ = 0;
};

struct Evaluation {
  double per_image = 0.0;  // mean over the images of the per-image bound, nats
  double seconds = 0.0;
  int64_t images = 0;
  int64_t particles = 0;
};

// The mean per-image bound on `images`: kind Elbo averages the particles' log weights, kind
// ImportanceWeighted log-mean-exps them (the IWAE bound; with many particles an estimate of the
// log-likelihood). Images and particles are batched and chunked so that every pixel tensor
// holds about `max_elements` values (cache-sized: elementwise passes dominate otherwise).
Evaluation evaluate(Vae& vae, const Tensor& images, BoundKind kind, int64_t particles, at::Generator generator,
                    int64_t max_elements = int64_t{1} << 19);

}  // namespace amortize::vae
