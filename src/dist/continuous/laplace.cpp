#include "amortize/dist/continuous/laplace.hpp"

#include "continuous_detail.hpp"

namespace amortize::dist {
namespace {
constexpr double kLog2 = 0.69314718055994530942;
}  // namespace

Laplace::Laplace(TensorArg loc, TensorArg scale) {
  auto p = continuous_detail::broadcast_named("Laplace", {loc, scale});
  loc_ = p[0];
  scale_ = p[1];
  require_finite("Laplace", "loc", loc_);
  require_positive("Laplace", "scale", scale_);
  set_shapes(to_shape(loc_.sizes()));
}

Tensor Laplace::log_prob(const Tensor& value) const {
  validate_sample(value);
  return -kLog2 - scale_.log() - (value - loc_).abs() / scale_;
}

Tensor Laplace::rsample(const Shape& sample_shape, at::Generator gen) const {
  // u uniform on [eps - 1, 1): never -1, where log1p(-|u|) would be -inf.
  const double eps = continuous_detail::machine_epsilon(options().dtype().toScalarType());
  auto u = at::rand(extended_shape(sample_shape), gen, options()) * (2 - eps) + (eps - 1);
  return loc_ - scale_ * u.sign() * at::log1p(-u.abs());
}

Tensor Laplace::entropy() const { return 1 + kLog2 + scale_.log(); }

Tensor Laplace::cdf(const Tensor& value) const {
  auto z = (value - loc_) / scale_;
  return 0.5 - 0.5 * z.sign() * at::expm1(-z.abs());
}

Tensor Laplace::icdf(const Tensor& p) const {
  auto centred = p - 0.5;
  return loc_ - scale_ * centred.sign() * at::log1p(-2 * centred.abs());
}

DistPtr Laplace::expand(const Shape& batch_shape) const {
  check_expand(batch_shape);
  return std::make_shared<Laplace>(loc_.expand(batch_shape), scale_.expand(batch_shape));
}

}  // namespace amortize::dist
