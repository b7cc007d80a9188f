// ARCTA (Course & Nair 2023): a latent SDE dz = f(z, t) dt + diag(sqrt(c)) dW with decoder
// p(x | z), fitted by amortized reparametrization. An encoder maps each window of M observations
// to (mu_i, l_i); a deep-kernel interpolant over a chunk gives the Markov GP posterior's m, l,
// dm/dt, dl/dt; the ELBO
//   sum_i E log p(x_i | z(t_i)) - 1/2 int E|r|^2_C dt - KL(q(c) || p(c))
// is estimated from one chunk with R posterior samples and S time strata, with no ODE or SDE
// solve, so a step costs O(B + R S) drift and decoder evaluations whatever the series' length.
#pragma once
#include "amortize/sde/conv_encoder.hpp"
#include "amortize/sde/deep_kernel.hpp"
#include "amortize/sde/mlp.hpp"
#include "amortize/sde/residual.hpp"
#include "amortize/sde/stratified.hpp"
#include "amortize/sde/time_series.hpp"

#include <torch/nn/module.h>

namespace amortize::sde {

enum class Likelihood {
  kGaussianFixed,    // N(x | decoder(z), obs_variance)
  kGaussianLearned,  // N(x | mean, exp(log_var)); an MLP decoder outputs both, an identity decoder learns log_var
  kBernoulli         // Bernoulli(x | logits = decoder(z))
};

struct ArctaModelOptions {
  int64_t latent_dim = 2;
  int64_t observation_dim = 2;  // prod of the observation shape
  int64_t window = 1;           // M
  std::vector<int64_t> encoder_hidden{64, 64};
  std::vector<int64_t> decoder_hidden{64, 64};
  std::vector<int64_t> drift_hidden{64, 64, 64};
  Activation encoder_activation = Activation::kTanh;
  Activation decoder_activation = Activation::kTanh;
  Activation drift_activation = Activation::kRelu;
  bool identity_decoder = false;  // x's mean is z itself (needs observation_dim == latent_dim)
  bool encoder_skip = false;      // mu = first observation of the window + MLP (observation_dim == latent_dim)
  bool autonomous_drift = true;   // f(z) rather than f(z, t)
  // Image observations (flattened frames of frame_height rows): a CNN encoder over the window's
  // frames (`encoder_channels` convolutions, then the encoder_hidden head) instead of the MLP.
  bool conv_encoder = false;
  int64_t frame_height = 0;       // 0: square frames
  std::vector<int64_t> encoder_channels{16, 32};
  Likelihood likelihood = Likelihood::kGaussianLearned;
  double observation_variance = 1e-2;  // for kGaussianFixed
  DeepKernelOptions kernel;
  // Log-normal prior and initial variational posterior on each diffusion coefficient c_k,
  // as (loc, scale) of log c_k.
  double diffusion_prior_loc = 0.0, diffusion_prior_scale = 1.0;
  double diffusion_init_loc = -11.5, diffusion_init_scale = 1e-5;
};

class ArctaModelImpl : public torch::nn::Module {
 public:
  explicit ArctaModelImpl(const ArctaModelOptions& options,
                          const at::TensorOptions& tensor_options = at::TensorOptions());

  const ArctaModelOptions& options() const { return options_; }
  // f(z, t): z [..., D], t z's leading shape. Not counted; see drift_fn.
  Tensor drift(const Tensor& z, const Tensor& t);
  // The drift as a DriftFn (counted on `counter` if given). Captures this module.
  DriftFn drift_fn(NfeCounter* counter = nullptr);
  // Replaces the MLP drift by a given function, e.g. a parametric drift whose parameters the
  // caller owns (they are not among this module's parameters); an empty function restores it.
  void set_drift(DriftFn drift) { drift_override_ = std::move(drift); }
  // (mu, l) for flattened windows [B, M * obs]: [B, 2D].
  Tensor encode(const Tensor& windows);
  // Log-likelihood log p(x | z) summed over the observation's dimensions: z [..., B, D] and
  // x [B, ...] give [..., B].
  Tensor log_likelihood(const Tensor& z, const Tensor& x);
  // Decoder's mean of x given z (probabilities for Bernoulli): [..., obs].
  Tensor decode_mean(const Tensor& z);

  // q(c) = LogNormal(loc, exp(log_scale)) per latent dimension; R reparameterised draws [R, D].
  Tensor sample_diffusion(int64_t replicas, at::Generator gen);
  Tensor diffusion_loc() const { return c_loc_; }
  Tensor diffusion_scale() const { return c_log_scale_.exp(); }
  // KL(q(c) || p(c)) summed over dimensions.
  Tensor diffusion_kl();

  DeepKernelInterpolant kernel() { return kernel_; }
  Mlp drift_net() { return drift_; }

 private:
  ArctaModelOptions options_;
  Mlp encoder_{nullptr}, decoder_{nullptr}, drift_{nullptr};
  ConvEncoder conv_encoder_{nullptr};
  DeepKernelInterpolant kernel_{nullptr};
  Tensor obs_log_var_;  // identity decoder with learned variance
  Tensor c_loc_, c_log_scale_;
  // Constants of the log-densities (as tensors of the model's dtype; see ScalarConstant).
  ScalarConstant gaussian_log_norm_{0}, half_log_2pi_{0}, diffusion_prior_loc_{0}, diffusion_kl_const_{0};
  DriftFn drift_override_;
};
TORCH_MODULE(ArctaModel);

struct ArctaSettings {
  int64_t samples = 1;  // R
  int64_t strata = 10;  // S
};

struct ElboTerms {
  Tensor elbo;                // scale * (loglik - beta/2 * residual_integral) - beta * kl
  Tensor log_likelihood;      // the chunk's sum_i E log p(x_i | z(t_i))
  Tensor residual_integral;   // the chunk's int E|r|^2_C dt (one R-sample average)
  Tensor kl;                  // KL(q(c) || p(c))
  double scale = 1;           // chunks per data set
  int64_t nfe = 0;            // drift evaluations of this estimate (R * S)
};

// The ELBO estimate from one chunk. `scale` (usually the number of chunks) makes it unbiased
// for the whole data set when the chunk is drawn uniformly; beta in [0, 1] is the caller's
// warm-up weight on the residual and KL terms. Counts drift evaluations on `nfe` if given.
ElboTerms arcta_elbo(ArctaModel& model, const ChunkData& chunk, double t_begin, double t_end, double scale,
                     const ArctaSettings& settings, double beta, at::Generator gen, NfeCounter* nfe = nullptr);

// Convenience: the chunk's tensors from the data set, with scale = num_chunks (the number of
// chunks the chunk was drawn from, ChunkSampler::num_chunks()).
ElboTerms arcta_elbo(ArctaModel& model, const TimeSeriesDataset& data, const Chunk& chunk, int64_t num_chunks,
                     const ArctaSettings& settings, double beta, at::Generator gen, NfeCounter* nfe = nullptr);

// The posterior mean and log-variance (m, l) [Q, D] at query times of a chunk.
std::pair<Tensor, Tensor> posterior_marginals(ArctaModel& model, const ChunkData& chunk, const Tensor& t_query);

}  // namespace amortize::sde
