// StudentT(df, loc, scale): a scale mixture of Normals with heavy polynomial tails, for robust
// likelihoods. rsample is reparameterised in all three parameters: the chi-square draw uses
// LibTorch's implicitly reparameterised standard gamma, so gradients reach df too.
#pragma once
#include "amortize/dist/distribution.hpp"

namespace amortize::dist {

class StudentT : public DistributionBase<StudentT> {
 public:
  StudentT(TensorArg df, TensorArg loc = 0.0, TensorArg scale = 1.0);

  std::string type_name() const override { return "StudentT"; }
  at::TensorOptions options() const override { return loc_.options(); }
  const Tensor& df() const { return df_; }
  const Tensor& loc() const { return loc_; }
  const Tensor& scale() const { return scale_; }

  // Accurate for tiny and huge df (1e6 and beyond, also in float32).
  Tensor log_prob(const Tensor& value) const override;
  bool has_rsample() const override { return true; }
  Tensor rsample(const Shape& sample_shape = {}, at::Generator gen = {}) const override;
  // loc where df > 1, NaN elsewhere.
  Tensor mean() const override;
  // scale^2 df / (df - 2) where df > 2, +inf where 1 < df <= 2, NaN where df <= 1.
  Tensor variance() const override;
  Tensor entropy() const override;
  Constraint support() const override { return constraints::real(); }
  DistPtr expand(const Shape& batch_shape) const override;

 private:
  Tensor df_;
  Tensor loc_;
  Tensor scale_;
};

}  // namespace amortize::dist
