// The distribution of y = T_n(...T_1(x)) for x drawn from a base distribution: a LogNormal is a
// Normal pushed through exp, a distribution on an interval is one pushed through sigmoid and an
// affine map. The density follows from the change of variables,
// log p(y) = log p_base(x) - sum_k log|det J_k|, with event dimensions tracked across the chain.
#pragma once
#include "amortize/dist/distribution.hpp"
#include "amortize/dist/transforms/compose_transform.hpp"

#include <vector>

namespace amortize::dist {

class TransformedDistribution : public DistributionBase<TransformedDistribution> {
 public:
  // `base` is expanded or wrapped in Independent where the transforms need more dimensions
  // (a stick-breaking transform treats the base's last batch dimension as the event).
  TransformedDistribution(DistPtr base, std::vector<TransformPtr> transforms);

  std::string type_name() const override { return "TransformedDistribution"; }
  at::TensorOptions options() const override { return base_->options(); }
  const DistPtr& base() const { return base_; }
  const std::vector<TransformPtr>& transforms() const { return transforms_; }

  // Inverts the chain, so values near where a transform saturates (sigmoid near 1) lose the
  // precision the inverse loses.
  Tensor log_prob(const Tensor& value) const override;
  Tensor sample(const Shape& sample_shape = {}, at::Generator gen = {}) const override;
  bool has_rsample() const override { return base_->has_rsample(); }
  Tensor rsample(const Shape& sample_shape = {}, at::Generator gen = {}) const override;
  // The last transform's codomain, with any further event dimensions of this distribution.
  Constraint support() const override;
  DistPtr expand(const Shape& batch_shape) const override;

 private:
  DistPtr base_;
  std::vector<TransformPtr> transforms_;
};

}  // namespace amortize::dist
