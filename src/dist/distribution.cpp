#include "amortize/dist/distribution.hpp"

#include "amortize/dist/independent.hpp"

#include <ATen/InferSize.h>
#include <c10/core/GradMode.h>

namespace amortize::dist {

Distribution::Distribution(Shape batch_shape, Shape event_shape)
    : batch_shape_(std::move(batch_shape)), event_shape_(std::move(event_shape)) {}

void Distribution::set_shapes(Shape batch_shape, Shape event_shape) {
  batch_shape_ = std::move(batch_shape);
  event_shape_ = std::move(event_shape);
}

Shape Distribution::extended_shape(const Shape& sample_shape) const {
  Shape shape = sample_shape;
  shape.insert(shape.end(), batch_shape_.begin(), batch_shape_.end());
  shape.insert(shape.end(), event_shape_.begin(), event_shape_.end());
  return shape;
}

Tensor Distribution::sample(const Shape& sample_shape, at::Generator gen) const {
  at::NoGradGuard no_grad;
  return rsample(sample_shape, std::move(gen));
}

Tensor Distribution::rsample(const Shape&, at::Generator) const { not_implemented("rsample"); }
Tensor Distribution::mean() const { not_implemented("mean"); }
Tensor Distribution::variance() const { not_implemented("variance"); }
Tensor Distribution::entropy() const { not_implemented("entropy"); }

DistPtr Distribution::to_event(int64_t n) const {
  if (n == 0) return clone();
  return std::make_shared<Independent>(clone(), n);
}

void Distribution::validate_sample(const Tensor& value) const {
  if (!validation_enabled()) return;
  const int64_t ed = event_dim();
  if (value.dim() < ed ||
      !std::equal(event_shape_.begin(), event_shape_.end(), value.sizes().end() - ed)) {
    throw DistributionError(type_name() + ": value of shape " + shape_string(value.sizes()) +
                            " does not end in the event shape " + shape_string(event_shape_));
  }
  try {
    at::infer_size(value.sizes().slice(0, value.dim() - ed), batch_shape_);
  } catch (const c10::Error&) {
    throw DistributionError(type_name() + ": value of shape " + shape_string(value.sizes()) +
                            " does not broadcast with batch shape " + shape_string(batch_shape_));
  }
  Tensor ok = support().check(value.detach());
  if (!ok.all().item<bool>()) {
    throw DistributionError(type_name() + ": value outside the support " + support().name());
  }
}

void Distribution::not_implemented(const std::string& what) const {
  throw DistributionError(type_name() + ": " + what + " is not available in closed form");
}

void Distribution::check_expand(const Shape& batch_shape) const {
  try {
    auto target = at::infer_size(batch_shape_, batch_shape);
    if (Shape(target.begin(), target.end()) == batch_shape) return;
  } catch (const c10::Error&) {
  }
  throw DistributionError(type_name() + ": cannot expand batch shape " + shape_string(batch_shape_) + " to " +
                          shape_string(batch_shape));
}

Tensor sum_rightmost(const Tensor& x, int64_t n) {
  if (n <= 0) return x;
  std::vector<int64_t> dims;
  for (int64_t i = 1; i <= n; ++i) dims.push_back(-i);
  return x.sum(dims);
}

}  // namespace amortize::dist
