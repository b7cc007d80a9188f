// HalfCauchy(scale): the law of |X| for X ~ Cauchy(0, scale). The heavy-tailed prior for
// group-level standard deviations recommended by Gelman (2006); it has no finite mean.
#pragma once
#include "amortize/dist/distribution.hpp"

namespace amortize::dist {

class HalfCauchy : public DistributionBase<HalfCauchy> {
 public:
  explicit HalfCauchy(TensorArg scale);

  std::string type_name() const override { return "HalfCauchy"; }
  at::TensorOptions options() const override { return scale_.options(); }
  const Tensor& scale() const { return scale_; }

  // Finite at 0 and for values whose square would overflow; -inf below 0.
  Tensor log_prob(const Tensor& value) const override;
  bool has_rsample() const override { return true; }
  Tensor rsample(const Shape& sample_shape = {}, at::Generator gen = {}) const override;
  // The mean and variance are infinite (+inf tensors, as in PyTorch).
  Tensor mean() const override;
  Tensor variance() const override;
  Tensor entropy() const override;
  Tensor cdf(const Tensor& value) const;
  Constraint support() const override { return constraints::positive(); }
  DistPtr expand(const Shape& batch_shape) const override;

 private:
  Tensor scale_;
};

}  // namespace amortize::dist
