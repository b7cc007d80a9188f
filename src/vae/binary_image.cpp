#include "amortize/vae/binary_image.hpp"

#include "amortize/vae/fused_ops.hpp"

namespace amortize::vae {

BinaryImage::BinaryImage(Tensor logits) : logits_(std::move(logits)) {
  if (logits_.dim() < 1) throw dist::DistributionError("BinaryImage: logits need a pixel dimension");
  if (!at::isFloatingType(logits_.scalar_type())) throw dist::DistributionError("BinaryImage: logits must be floating");
  auto sizes = logits_.sizes().vec();
  const int64_t pixels = sizes.back();
  sizes.pop_back();
  set_shapes(Shape(sizes.begin(), sizes.end()), Shape{pixels});
}

Tensor BinaryImage::log_prob(const Tensor& value) const {
  validate_sample(value);
  return bernoulli_logits_log_prob(logits_, value);
}

Tensor BinaryImage::sample(const Shape& sample_shape, at::Generator gen) const {
  at::NoGradGuard no_grad;
  return at::bernoulli(at::sigmoid(logits_.detach()).expand(extended_shape(sample_shape)), gen);
}

Tensor BinaryImage::variance() const {
  const Tensor p = at::sigmoid(logits_);
  return p * (1 - p);
}

dist::DistPtr BinaryImage::expand(const Shape& batch_shape) const {
  check_expand(batch_shape);
  Shape full = batch_shape;
  full.push_back(event_shape().back());
  return std::make_shared<BinaryImage>(logits_.expand(full));
}

}  // namespace amortize::vae
