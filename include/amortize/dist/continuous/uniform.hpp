// Uniform(low, high): constant density 1 / (high - low) on the closed interval [low, high].
// Reparameterised in both bounds; requires low < high elementwise.
#pragma once
#include "amortize/dist/distribution.hpp"

namespace amortize::dist {

class Uniform : public DistributionBase<Uniform> {
 public:
  Uniform(TensorArg low, TensorArg high);

  std::string type_name() const override { return "Uniform"; }
  at::TensorOptions options() const override { return low_.options(); }
  const Tensor& low() const { return low_; }
  const Tensor& high() const { return high_; }

  // -log(high - low) on [low, high] (bounds included), -inf outside.
  Tensor log_prob(const Tensor& value) const override;
  bool has_rsample() const override { return true; }
  Tensor rsample(const Shape& sample_shape = {}, at::Generator gen = {}) const override;
  Tensor mean() const override { return 0.5 * (low_ + high_); }
  Tensor variance() const override { return (high_ - low_).square() / 12; }
  Tensor entropy() const override { return (high_ - low_).log(); }
  // 0 below low, 1 above high.
  Tensor cdf(const Tensor& value) const;
  Tensor icdf(const Tensor& p) const { return low_ + p * (high_ - low_); }
  Constraint support() const override { return constraints::interval(low_, high_); }
  DistPtr expand(const Shape& batch_shape) const override;

 private:
  Tensor low_;
  Tensor high_;
};

}  // namespace amortize::dist
