#include "amortize/dist/continuous/beta.hpp"

#include "amortize/dist/continuous/dirichlet.hpp"
#include "gamma_family_math.hpp"

namespace amortize::dist {

Beta::Beta(TensorArg concentration1, TensorArg concentration0) {
  auto p = gamma_family::broadcast_named("Beta", {concentration1, concentration0});
  concentration1_ = p[0];
  concentration0_ = p[1];
  require_positive("Beta", "concentration1", concentration1_);
  require_positive("Beta", "concentration0", concentration0_);
  set_shapes(to_shape(concentration1_.sizes()));
}

Tensor Beta::log_prob(const Tensor& value) const {
  validate_sample(value);
  return gamma_family::xlogx_power(concentration1_ - 1, value) +
         gamma_family::xlog1mx_power(concentration0_ - 1, value) -
         gamma_family::log_beta(concentration1_, concentration0_);
}

Tensor Beta::rsample(const Shape& sample_shape, at::Generator gen) const {
  auto shape = extended_shape(sample_shape);
  auto both = at::stack({concentration1_.expand(shape), concentration0_.expand(shape)}, -1);
  return dirichlet_rsample_implicit(both, std::move(gen)).select(-1, 0);
}

Tensor Beta::mean() const { return concentration1_ / (concentration1_ + concentration0_); }

Tensor Beta::variance() const {
  auto total = concentration1_ + concentration0_;
  return concentration1_ * concentration0_ / (total.square() * (total + 1));
}

Tensor Beta::entropy() const {
  auto total = concentration1_ + concentration0_;
  return gamma_family::log_beta(concentration1_, concentration0_) -
         (concentration1_ - 1) * at::digamma(concentration1_) - (concentration0_ - 1) * at::digamma(concentration0_) +
         (total - 2) * at::digamma(total);
}

DistPtr Beta::expand(const Shape& batch_shape) const {
  check_expand(batch_shape);
  return std::make_shared<Beta>(concentration1_.expand(batch_shape), concentration0_.expand(batch_shape));
}

}  // namespace amortize::dist
