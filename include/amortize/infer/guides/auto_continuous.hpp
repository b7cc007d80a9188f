// Guides over the joint unconstrained latent vector (all sites flattened into one vector of
// length D), as Pyro's AutoContinuous: AutoMultivariateNormal (full-rank covariance) and
// AutoLowRankMultivariateNormal (W W^T + diag, rank ceil(sqrt(D)) by default). They capture
// correlations between sites; local latents in subsampled plates are not supported.
#pragma once
#include "amortize/infer/guides/auto_guide.hpp"

namespace amortize::infer {

class AutoContinuous : public AutoGuide {
 public:
  using AutoGuide::AutoGuide;
  std::map<std::string, Tensor> median() override;
  // Mean and covariance of the joint unconstrained latent.
  virtual std::pair<Tensor, Tensor> loc_covariance() = 0;

  // Robust start: finds the mode of the log joint in unconstrained space with L-BFGS and sets
  // the guide to the Laplace approximation there (covariance = inverse Hessian by autograd).
  // Returns false (leaving the mode as loc) when the Hessian is not positive definite.
  bool initialize_laplace(int64_t max_iterations = 200);
  // log p(x, T(z)) + log|det J_T(z)| for a joint unconstrained vector z of length D.
  Tensor unconstrained_log_joint(const Tensor& z);
  // How well the last Laplace start fits the posterior: the effective sample size of 100
  // importance-weighted draws from it, as a share of 100 (1: exact; 0: no start yet).
  double laplace_weight_share() const { return laplace_weight_share_; }

 protected:
  void sample_latents() override;
  // Samples the joint unconstrained latent (as one guide site) and returns it.
  virtual Tensor sample_joint();
  // The joint latent's distribution; with detached parameters for sticking the landing.
  virtual dist::DistPtr latent_distribution(bool detach_params) = 0;
  virtual void set_loc_covariance(const Tensor& loc, const Tensor& covariance) = 0;
  Tensor initial_loc() const;
  double importance_weight_share(const Tensor& mode, const Tensor& covariance);
  double laplace_weight_share_ = 0.0;
  // The site's part of a joint draw z (..., D), shaped for the site and the particle plate.
  Tensor unpack(const Tensor& z, const LatentSite& site, int64_t offset) const;
  // Every site's part of z at once (one autograd node), in site order.
  std::vector<Tensor> unpack_all(const Tensor& z) const;
  Shape site_shape(const Tensor& z, const LatentSite& site) const;
};

// z = shift + F (loc + L eps): the trained loc and L live in a fixed frame (shift, F), the
// identity unless a Laplace start sets it to the mode and the Cholesky factor of the inverse
// Hessian. Adam's steps are then steps in posterior sds whatever the posterior's scale and
// correlations (a poorly scaled regression otherwise needs a ten times smaller rate). Only a
// start that importance weighting trusts (laplace_weight_share() >= 0.15) becomes the frame;
// otherwise it only sets loc and L, in the identity frame.
class AutoMultivariateNormal : public AutoContinuous {
 public:
  explicit AutoMultivariateNormal(Program model, InitStrategy init = {}, double init_scale = 0.1,
                                  std::string prefix = "AutoMultivariateNormal");
  std::pair<Tensor, Tensor> loc_covariance() override;

 protected:
  void create_params() override;
  dist::DistPtr latent_distribution(bool detach_params) override;
  void set_loc_covariance(const Tensor& loc, const Tensor& covariance) override;

 private:
  static constexpr double kTrustedWeightShare = 0.15;
  // The joint latent's loc and scale_tril (frame applied).
  std::pair<Tensor, Tensor> joint_loc_scale_tril();
  bool identity_frame(const Tensor& shift, const Tensor& frame);
  struct FrameState {
    const void* shift = nullptr;
    const void* frame = nullptr;
    int64_t shift_version = -1;
    int64_t frame_version = -1;
    bool identity = false;
  };
  FrameState frame_state_;
};

class AutoLowRankMultivariateNormal : public AutoContinuous {
 public:
  // rank <= 0: ceil(sqrt(D)).
  explicit AutoLowRankMultivariateNormal(Program model, int64_t rank = 0, InitStrategy init = {},
                                         double init_scale = 0.1,
                                         std::string prefix = "AutoLowRankMultivariateNormal");
  std::pair<Tensor, Tensor> loc_covariance() override;
  int64_t rank() const { return rank_; }

 protected:
  void create_params() override;
  dist::DistPtr latent_distribution(bool detach_params) override;
  void set_loc_covariance(const Tensor& loc, const Tensor& covariance) override;

 private:
  int64_t rank_;
};

}  // namespace amortize::infer
