// Independent (`to_event`): reinterprets the rightmost batch dimensions of a base distribution
// as event dimensions, so that log_prob sums over them. Pyro's `.to_event(n)`.
#pragma once
#include "amortize/dist/distribution.hpp"

namespace amortize::dist {

class Independent : public DistributionBase<Independent> {
 public:
  Independent(DistPtr base, int64_t reinterpreted_dims);

  std::string type_name() const override { return "Independent"; }
  at::TensorOptions options() const override { return base_->options(); }
  const DistPtr& base() const { return base_; }
  int64_t reinterpreted_dims() const { return dims_; }

  Tensor log_prob(const Tensor& value) const override;
  Tensor sample(const Shape& sample_shape = {}, at::Generator gen = {}) const override;
  bool has_rsample() const override { return base_->has_rsample(); }
  Tensor rsample(const Shape& sample_shape = {}, at::Generator gen = {}) const override;
  Tensor mean() const override { return base_->mean(); }
  Tensor variance() const override { return base_->variance(); }
  Tensor entropy() const override { return sum_rightmost(base_->entropy(), dims_); }
  Constraint support() const override { return base_->support().with_extra_event_dims(dims_); }
  DistPtr expand(const Shape& batch_shape) const override;

 private:
  DistPtr base_;
  int64_t dims_;
};

}  // namespace amortize::dist
