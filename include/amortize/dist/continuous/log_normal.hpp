// LogNormal(loc, scale): the law of exp(X) for X ~ Normal(loc, scale), on the positive reals.
// A common prior for positive scales and rates with multiplicative uncertainty.
#pragma once
#include "amortize/dist/distribution.hpp"

namespace amortize::dist {

class LogNormal : public DistributionBase<LogNormal> {
 public:
  LogNormal(TensorArg loc, TensorArg scale);

  std::string type_name() const override { return "LogNormal"; }
  at::TensorOptions options() const override { return loc_.options(); }
  // Parameters of the underlying Normal of log(x).
  const Tensor& loc() const { return loc_; }
  const Tensor& scale() const { return scale_; }

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
  Tensor loc_;
  Tensor scale_;
};

}  // namespace amortize::dist
