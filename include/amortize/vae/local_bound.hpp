// Per-datum variational bounds for models whose latent variables all live in one local plate
// (an amortized model such as the VAE): with K particles z_k ~ q(z | x_i) and log weights
// w_ki = log p(x_i, z_ki) - log q(z_ki | x_i), the ELBO averages w over k and the
// importance-weighted bound (IWAE, Burda et al. 2016) takes log mean_k exp(w_ki) for each datum
// separately; both are then summed over the batch and scaled by the plate's size / batch.
// infer::RenyiElbo(alpha = 0) instead takes one log-mean-exp of the whole batch's summed
// weights, a bound on the joint evidence of the batch that is close to the ELBO for large
// batches; this class is the per-datum bound that amortized models need.
#pragma once
#include "amortize/infer/elbo.hpp"

#include <string>

namespace amortize::vae {

enum class BoundKind { Elbo, ImportanceWeighted };

class LocalBound {
 public:
  // `plate` names the local plate that every latent and observed site must lie in.
  LocalBound(BoundKind kind, int64_t particles, std::string plate = "data");

  // Runs guide and model (particles as a leading dimension) and returns -bound for the data
  // set (the batch's sum scaled by the plate), differentiable by pathwise gradients.
  Tensor loss(const infer::Program& model, const infer::Program& guide);
  // The bound of the last call for the whole data set (scaled), and per datum of the batch
  // (unscaled, shape (batch,), detached).
  double last_bound() const;
  const Tensor& last_per_datum() const { return last_per_datum_; }

  BoundKind kind() const { return kind_; }
  int64_t particles() const { return particles_; }

 private:
  BoundKind kind_;
  int64_t particles_;
  std::string plate_;
  infer::TraceElbo runner_;
  Tensor last_loss_;  // -bound, detached (read back only when asked)
  Tensor last_per_datum_;
};

}  // namespace amortize::vae
