// Gamma(concentration, rate): the law of positive quantities such as precisions, rates and
// scales, with density x^(a-1) b^a e^(-b x) / Gamma(a). Draws are reparameterised implicitly
// (Figurnov et al. 2018): the gradient of a draw with respect to the concentration is the one
// that holds its CDF fixed, so rsample is differentiable in both parameters.
#pragma once
#include "amortize/dist/distribution.hpp"

namespace amortize::dist {

class Gamma : public DistributionBase<Gamma> {
 public:
  Gamma(TensorArg concentration, TensorArg rate);

  std::string type_name() const override { return "Gamma"; }
  at::TensorOptions options() const override { return concentration_.options(); }
  const Tensor& concentration() const { return concentration_; }
  const Tensor& rate() const { return rate_; }

  Tensor log_prob(const Tensor& value) const override;
  bool has_rsample() const override { return true; }
  Tensor rsample(const Shape& sample_shape = {}, at::Generator gen = {}) const override;
  Tensor mean() const override { return concentration_ / rate_; }
  Tensor variance() const override { return concentration_ / rate_.square(); }
  Tensor entropy() const override;
  // Regularised lower incomplete gamma P(a, b x) (not differentiable in the concentration).
  Tensor cdf(const Tensor& value) const;
  Constraint support() const override { return constraints::positive(); }
  DistPtr expand(const Shape& batch_shape) const override;

 private:
  Tensor concentration_;
  Tensor rate_;
};

}  // namespace amortize::dist
