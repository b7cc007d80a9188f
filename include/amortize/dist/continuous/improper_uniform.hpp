// ImproperUniform(support, batch_shape, event_shape): the flat "density" 1 on a support, which
// has no normalising constant. It marks a latent site whose prior is flat (or whose density is
// added elsewhere, e.g. by a factor): log_prob is 0 on the support, and it cannot be sampled,
// so a guide must provide the values.
#pragma once
#include "amortize/dist/distribution.hpp"

namespace amortize::dist {

class ImproperUniform : public DistributionBase<ImproperUniform> {
 public:
  // event_shape must have at least support.event_dim() dimensions; `options` sets the dtype
  // and device of the zeros log_prob returns when no value dtype applies.
  ImproperUniform(Constraint support, Shape batch_shape, Shape event_shape = {},
                  at::TensorOptions options = default_options());

  std::string type_name() const override { return "ImproperUniform"; }
  at::TensorOptions options() const override { return options_; }

  // Zeros of the broadcast batch shape of value and this distribution, in value's dtype.
  Tensor log_prob(const Tensor& value) const override;
  // Both throw a DistributionError: there is no distribution to draw from.
  Tensor sample(const Shape& sample_shape = {}, at::Generator gen = {}) const override;
  Tensor rsample(const Shape& sample_shape = {}, at::Generator gen = {}) const override;
  Constraint support() const override;
  DistPtr expand(const Shape& batch_shape) const override;

 private:
  Constraint support_;
  at::TensorOptions options_;
};

}  // namespace amortize::dist
