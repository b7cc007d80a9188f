// Poisson(rate): counts of events occurring at a constant rate; values are non-negative
// integers in the rate's floating dtype. A rate of 0 is allowed (all mass at 0).
#pragma once
#include "amortize/dist/distribution.hpp"

namespace amortize::dist {

class Poisson : public DistributionBase<Poisson> {
 public:
  explicit Poisson(TensorArg rate);

  std::string type_name() const override { return "Poisson"; }
  at::TensorOptions options() const override { return rate_.options(); }
  const Tensor& rate() const { return rate_; }

  Tensor log_prob(const Tensor& value) const override;
  Tensor sample(const Shape& sample_shape = {}, at::Generator gen = {}) const override;
  Tensor mean() const override { return rate_; }
  Tensor variance() const override { return rate_; }
  // entropy() is not available in closed form (throws).
  Constraint support() const override { return constraints::nonnegative_integer(); }
  DistPtr expand(const Shape& batch_shape) const override;

 private:
  Tensor rate_;
};

}  // namespace amortize::dist
