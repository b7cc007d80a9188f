// The VAE's latent distributions, each draw and log-density one fused autograd node (float32
// contiguous CPU tensors; any other dtype, device or layout goes through the equivalent ATen
// expression). Normal(loc, scale).to_event(1) costs about 25 LibTorch operations per step
// for the guide and as many for the prior, a visible share of a small model's step.
//   DiagonalNormal(loc, log_scale): N(loc, diag(exp(log_scale))^2) over the last dimension.
//   StandardNormal(batch_shape, dim): N(0, I) over a last dimension of size dim.
// Broadcasting to a larger batch shape (a particle plate) keeps the parameters as they are.
#pragma once
#include "amortize/dist/distribution.hpp"

namespace amortize::vae {

class DiagonalNormal : public dist::DistributionBase<DiagonalNormal> {
 public:
  // loc and log_scale of the same shape (..., dim); the last dimension is the event.
  DiagonalNormal(Tensor loc, Tensor log_scale);

  std::string type_name() const override { return "DiagonalNormal"; }
  at::TensorOptions options() const override { return loc_.options(); }
  const Tensor& loc() const { return loc_; }
  const Tensor& log_scale() const { return log_scale_; }

  // value (..., dim) whose trailing dimensions match the parameters' or broadcast against them.
  Tensor log_prob(const Tensor& value) const override;
  bool has_rsample() const override { return true; }
  Tensor rsample(const Shape& sample_shape = {}, at::Generator gen = {}) const override;
  Tensor mean() const override;
  Tensor variance() const override;
  dist::Constraint support() const override { return dist::constraints::real().with_extra_event_dims(1); }
  dist::DistPtr expand(const Shape& batch_shape) const override;

 private:
  Tensor loc_, log_scale_;  // as given: the batch shape may be larger (broadcast on use)
};

class StandardNormal : public dist::DistributionBase<StandardNormal> {
 public:
  StandardNormal(Shape batch_shape, int64_t dim, c10::TensorOptions options = at::kFloat);

  std::string type_name() const override { return "StandardNormal"; }
  at::TensorOptions options() const override { return options_; }

  Tensor log_prob(const Tensor& value) const override;
  bool has_rsample() const override { return true; }
  Tensor rsample(const Shape& sample_shape = {}, at::Generator gen = {}) const override;
  Tensor mean() const override;
  Tensor variance() const override;
  dist::Constraint support() const override { return dist::constraints::real().with_extra_event_dims(1); }
  dist::DistPtr expand(const Shape& batch_shape) const override;

 private:
  c10::TensorOptions options_;
};

}  // namespace amortize::vae
