// Normal(loc, scale): the Gaussian on the real line.
#pragma once
#include "amortize/dist/distribution.hpp"

namespace amortize::dist {

class Normal : public DistributionBase<Normal> {
 public:
  Normal(TensorArg loc, TensorArg scale);

  std::string type_name() const override { return "Normal"; }
  at::TensorOptions options() const override { return loc_.options(); }
  const Tensor& loc() const { return loc_; }
  const Tensor& scale() const { return scale_; }

  Tensor log_prob(const Tensor& value) const override;
  bool has_rsample() const override { return true; }
  Tensor rsample(const Shape& sample_shape = {}, at::Generator gen = {}) const override;
  Tensor mean() const override { return loc_; }
  Tensor variance() const override { return scale_.square(); }
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
