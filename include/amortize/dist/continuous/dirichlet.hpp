// Dirichlet(concentration): the law of probability vectors (points of the simplex), the
// conjugate prior of categorical and multinomial weights. The last dimension of the
// concentration is the event. Draws are reparameterised implicitly (Figurnov et al. 2018).
#pragma once
#include "amortize/dist/distribution.hpp"

namespace amortize::dist {

class Dirichlet : public DistributionBase<Dirichlet> {
 public:
  explicit Dirichlet(const Tensor& concentration);

  std::string type_name() const override { return "Dirichlet"; }
  at::TensorOptions options() const override { return concentration_.options(); }
  const Tensor& concentration() const { return concentration_; }

  Tensor log_prob(const Tensor& value) const override;
  bool has_rsample() const override { return true; }
  Tensor rsample(const Shape& sample_shape = {}, at::Generator gen = {}) const override;
  Tensor mean() const override;
  Tensor variance() const override;
  Tensor entropy() const override;
  Constraint support() const override { return constraints::simplex(); }
  DistPtr expand(const Shape& batch_shape) const override;

 private:
  Tensor concentration_;
};

// One Dirichlet draw per row of `concentration` (last dimension = simplex), differentiable
// with respect to `concentration` through implicit reparameterisation gradients.
Tensor dirichlet_rsample_implicit(const Tensor& concentration, at::Generator gen);

}  // namespace amortize::dist
