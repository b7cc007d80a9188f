// Delta(value, log_density, event_dim): a point mass at `value`, used to plug a fixed or
// learned point estimate into a model or guide (MAP guides). log_prob is log_density where the
// value matches exactly and -inf elsewhere; rsample returns the value, so gradients reach it.
// The rightmost `event_dim` dimensions of `value` form one event.
#pragma once
#include "amortize/dist/distribution.hpp"

namespace amortize::dist {

class Delta : public DistributionBase<Delta> {
 public:
  // log_density must broadcast to the batch shape value.shape[:-event_dim].
  explicit Delta(TensorArg value, TensorArg log_density = 0.0, int64_t event_dim = 0);

  std::string type_name() const override { return "Delta"; }
  at::TensorOptions options() const override { return value_.options(); }
  const Tensor& value() const { return value_; }
  const Tensor& log_density() const { return log_density_; }

  Tensor log_prob(const Tensor& x) const override;
  // The value expanded (detached from it for sample).
  Tensor sample(const Shape& sample_shape = {}, at::Generator gen = {}) const override;
  bool has_rsample() const override { return true; }
  Tensor rsample(const Shape& sample_shape = {}, at::Generator gen = {}) const override;
  Tensor mean() const override { return value_; }
  Tensor variance() const override { return at::zeros_like(value_); }
  Constraint support() const override;
  DistPtr expand(const Shape& batch_shape) const override;

 private:
  Tensor value_;
  Tensor log_density_;
};

}  // namespace amortize::dist
