// MixtureSameFamily(mixture, component): a finite mixture whose K components are one
// distribution with batch shape (..., K); a Categorical over K gives the mixing weights.
// log_prob marginalises the component (logsumexp); sample draws a component index, then the
// value from that component. Not reparameterisable: rsample throws.
#pragma once
#include "amortize/dist/discrete/categorical.hpp"
#include "amortize/dist/distribution.hpp"

namespace amortize::dist {

class MixtureSameFamily : public DistributionBase<MixtureSameFamily> {
 public:
  // `mixture` must be a Categorical with K categories and batch shape broadcastable with the
  // component's batch shape without its last dimension, which must be K.
  MixtureSameFamily(DistPtr mixture, DistPtr component);
  MixtureSameFamily(const Categorical& mixture, DistPtr component);

  std::string type_name() const override { return "MixtureSameFamily"; }
  at::TensorOptions options() const override { return component_->options(); }
  const Categorical& mixture() const { return *mixture_; }
  const DistPtr& component() const { return component_; }
  int64_t num_components() const { return mixture_->num_categories(); }

  Tensor log_prob(const Tensor& value) const override;
  Tensor sample(const Shape& sample_shape = {}, at::Generator gen = {}) const override;
  Tensor rsample(const Shape& sample_shape = {}, at::Generator gen = {}) const override;
  Tensor mean() const override;
  // Law of total variance: E[Var(x | k)] + Var(E[x | k]).
  Tensor variance() const override;
  // The component's support (interval bounds that differ across components are widened to
  // their hull).
  Constraint support() const override;
  DistPtr expand(const Shape& batch_shape) const override;

 private:
  // Mixing probabilities reshaped to (*batch, K, 1, ..., 1) to weight per-component moments.
  Tensor weights_for_moments() const;
  // The dimension of the components in a component tensor of shape (*, K, *event).
  int64_t component_dim() const { return -1 - event_dim(); }

  std::shared_ptr<const Categorical> mixture_;
  DistPtr component_;
};

}  // namespace amortize::dist
