// HalfNormal(scale): the law of |X| for X ~ Normal(0, scale). A weakly informative prior for
// standard deviations that keeps mass near zero.
#pragma once
#include "amortize/dist/distribution.hpp"

namespace amortize::dist {

class HalfNormal : public DistributionBase<HalfNormal> {
 public:
  explicit HalfNormal(TensorArg scale);

  std::string type_name() const override { return "HalfNormal"; }
  at::TensorOptions options() const override { return scale_.options(); }
  const Tensor& scale() const { return scale_; }

  // Finite at 0 (the density is 2 * Normal(0, scale) there); -inf below 0.
  Tensor log_prob(const Tensor& value) const override;
  bool has_rsample() const override { return true; }
  Tensor rsample(const Shape& sample_shape = {}, at::Generator gen = {}) const override;
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
