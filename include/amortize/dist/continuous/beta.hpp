// Beta(concentration1, concentration0): the law of a probability in [0, 1], with density
// x^(a-1) (1-x)^(b-1) / B(a, b) where a = concentration1 and b = concentration0. Draws are
// the first coordinate of a two-category Dirichlet, reparameterised implicitly.
#pragma once
#include "amortize/dist/distribution.hpp"

namespace amortize::dist {

class Beta : public DistributionBase<Beta> {
 public:
  Beta(TensorArg concentration1, TensorArg concentration0);

  std::string type_name() const override { return "Beta"; }
  at::TensorOptions options() const override { return concentration1_.options(); }
  const Tensor& concentration1() const { return concentration1_; }
  const Tensor& concentration0() const { return concentration0_; }

  Tensor log_prob(const Tensor& value) const override;
  bool has_rsample() const override { return true; }
  Tensor rsample(const Shape& sample_shape = {}, at::Generator gen = {}) const override;
  Tensor mean() const override;
  Tensor variance() const override;
  Tensor entropy() const override;
  Constraint support() const override { return constraints::unit_interval(); }
  DistPtr expand(const Shape& batch_shape) const override;

 private:
  Tensor concentration1_;
  Tensor concentration0_;
};

}  // namespace amortize::dist
