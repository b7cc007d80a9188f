// Exponential(rate): waiting times of a Poisson process, density rate * exp(-rate x) for x >= 0.
#pragma once
#include "amortize/dist/distribution.hpp"

namespace amortize::dist {

class Exponential : public DistributionBase<Exponential> {
 public:
  explicit Exponential(TensorArg rate);

  std::string type_name() const override { return "Exponential"; }
  at::TensorOptions options() const override { return rate_.options(); }
  const Tensor& rate() const { return rate_; }

  // log(rate) at 0; -inf below 0.
  Tensor log_prob(const Tensor& value) const override;
  bool has_rsample() const override { return true; }
  // Never exactly 0, so every draw lies in the support.
  Tensor rsample(const Shape& sample_shape = {}, at::Generator gen = {}) const override;
  Tensor mean() const override { return rate_.reciprocal(); }
  Tensor variance() const override { return rate_.reciprocal().square(); }
  Tensor entropy() const override { return 1 - rate_.log(); }
  Tensor cdf(const Tensor& value) const;
  Tensor icdf(const Tensor& p) const { return -at::log1p(-p) / rate_; }
  Constraint support() const override { return constraints::positive(); }
  DistPtr expand(const Shape& batch_shape) const override;

 private:
  Tensor rate_;
};

}  // namespace amortize::dist
