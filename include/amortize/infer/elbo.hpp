// Variational objectives over a model and a guide, both plain callables. Each returns a
// differentiable loss (a surrogate whose gradient is an unbiased estimate of -grad ELBO) and
// remembers the ELBO estimate of its last call. Monte-Carlo particles run as one extra
// leading tensor dimension (a plate left of every batch dimension), not as a loop.
#pragma once
#include "amortize/model/trace.hpp"

#include <functional>
#include <map>
#include <string>

namespace amortize::infer {

using Program = std::function<void()>;

struct ElboOptions {
  int64_t num_particles = 1;
  // Number of batch dimensions the model uses; the particle dimension goes left of them.
  // Negative: found from a first trace of the model and guide.
  int64_t max_plate_nesting = -1;
  // Decay of the per-site running-average baseline for score-function gradients.
  double baseline_decay = 0.9;
};

class Elbo {
 public:
  explicit Elbo(ElboOptions options = {}) : options_(options) {}
  virtual ~Elbo() = default;

  // Runs guide then model (replayed against the guide) and returns the surrogate loss.
  Tensor loss(const Program& model, const Program& guide);
  // The ELBO estimate (mean over particles) of the last call to loss().
  double last_elbo() const { return last_elbo_; }
  const ElboOptions& options() const { return options_; }

  struct Traces {
    model::Trace model;
    model::Trace guide;
  };
  // One joint run with particles; exposed for tests and diagnostics.
  Traces run(const Program& model, const Program& guide);

  // The score-function baselines by site: state a resumed run must restore to continue exactly.
  const std::map<std::string, double>& baselines() const { return baselines_; }
  void set_baselines(std::map<std::string, double> baselines) { baselines_ = std::move(baselines); }

 protected:
  // Per-particle ELBO terms (shape [K]) and the score-function surrogate.
  struct ParticleTerms {
    Tensor elbo;       // shape [K]: log p - log q per particle (differentiable, pathwise)
    Tensor surrogate;  // scalar: extra terms whose gradient is the score-function part (undefined: none)
  };
  ParticleTerms particle_terms(const Traces& traces, bool analytic_kl);
  virtual Tensor combine(const ParticleTerms& terms) = 0;
  virtual bool analytic_kl() const { return false; }

  // Sums a site's scaled log-density over everything but the particle dimension.
  Tensor per_particle(const Tensor& log_prob, double scale) const;

  ElboOptions options_;
  int64_t particle_dim_ = 0;
  double last_elbo_ = 0.0;
  std::map<std::string, double> baselines_;
};

// Trace_ELBO: pathwise gradients for reparameterised sites, score-function gradients with a
// decaying-average baseline for the others.
class TraceElbo : public Elbo {
 public:
  using Elbo::Elbo;

 protected:
  Tensor combine(const ParticleTerms& terms) override;
};

// TraceMeanField_ELBO: like TraceElbo but uses the closed-form KL(q || p) for every latent
// site whose guide and prior distributions have one in the registry.
class TraceMeanFieldElbo : public TraceElbo {
 public:
  using TraceElbo::TraceElbo;

 protected:
  bool analytic_kl() const override { return true; }
};

// Renyi alpha-divergence bound: 1/(1-alpha) log mean_k exp((1-alpha) w_k). alpha = 0 is the
// importance-weighted bound (IWAE); alpha -> 1 recovers the ELBO. Needs reparameterised guides.
class RenyiElbo : public Elbo {
 public:
  RenyiElbo(double alpha, ElboOptions options);
  double alpha() const { return alpha_; }

 protected:
  Tensor combine(const ParticleTerms& terms) override;

 private:
  double alpha_;
};

}  // namespace amortize::infer
