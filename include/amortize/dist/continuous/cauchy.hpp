// Cauchy(loc, scale): the Student-t with one degree of freedom, on the real line. Its mean is
// undefined (NaN) and its variance infinite, as in PyTorch.
#pragma once
#include "amortize/dist/distribution.hpp"

namespace amortize::dist {

class Cauchy : public DistributionBase<Cauchy> {
 public:
  Cauchy(TensorArg loc, TensorArg scale);

  std::string type_name() const override { return "Cauchy"; }
  at::TensorOptions options() const override { return loc_.options(); }
  const Tensor& loc() const { return loc_; }
  const Tensor& scale() const { return scale_; }

  Tensor log_prob(const Tensor& value) const override;
  bool has_rsample() const override { return true; }
  Tensor rsample(const Shape& sample_shape = {}, at::Generator gen = {}) const override;
  Tensor mean() const override;      // NaN
  Tensor variance() const override;  // +inf
  Tensor entropy() const override;   // log(4 pi scale)
  Tensor cdf(const Tensor& value) const;
  Tensor icdf(const Tensor& p) const;
  Constraint support() const override { return constraints::real(); }
  DistPtr expand(const Shape& batch_shape) const override;

 private:
  Tensor loc_;
  Tensor scale_;
};

}  // namespace amortize::dist
