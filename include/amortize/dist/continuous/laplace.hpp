// Laplace(loc, scale): the double exponential on the real line, density exp(-|x - loc| / scale)
// / (2 scale). Its log-density is the absolute-error loss; a sparsity-favouring prior.
#pragma once
#include "amortize/dist/distribution.hpp"

namespace amortize::dist {

class Laplace : public DistributionBase<Laplace> {
 public:
  Laplace(TensorArg loc, TensorArg scale);

  std::string type_name() const override { return "Laplace"; }
  at::TensorOptions options() const override { return loc_.options(); }
  const Tensor& loc() const { return loc_; }
  const Tensor& scale() const { return scale_; }

  Tensor log_prob(const Tensor& value) const override;
  bool has_rsample() const override { return true; }
  Tensor rsample(const Shape& sample_shape = {}, at::Generator gen = {}) const override;
  Tensor mean() const override { return loc_; }
  Tensor variance() const override { return 2 * scale_.square(); }
  Tensor entropy() const override;
  Tensor cdf(const Tensor& value) const;
  Tensor icdf(const Tensor& p) const;
  Constraint support() const override { return constraints::real(); }
  DistPtr expand(const Shape& batch_shape) const override;

 private:
  Tensor loc_;
  Tensor scale_;
};

}  // namespace amortize::dist
