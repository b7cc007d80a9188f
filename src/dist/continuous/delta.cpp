#include "amortize/dist/continuous/delta.hpp"

#include "continuous_detail.hpp"

#include <ATen/InferSize.h>

namespace amortize::dist {

Delta::Delta(TensorArg value, TensorArg log_density, int64_t event_dim) {
  value_ = continuous_detail::broadcast_named("Delta", {value})[0];
  if (event_dim < 0 || event_dim > value_.dim()) {
    throw DistributionError("Delta: event_dim must be in [0, " + std::to_string(value_.dim()) +
                            "] for a value of shape " + shape_string(value_.sizes()) + ", got " +
                            std::to_string(event_dim));
  }
  const auto sizes = value_.sizes();
  Shape batch(sizes.begin(), sizes.end() - event_dim);
  Shape event(sizes.end() - event_dim, sizes.end());
  Tensor density = log_density.is_tensor() ? log_density.tensor().to(value_.options())
                                           : at::scalar_tensor(log_density.value(), value_.options());
  bool broadcasts = density.dim() <= static_cast<int64_t>(batch.size());
  if (broadcasts) {
    try {
      broadcasts = to_shape(at::infer_size(density.sizes(), batch)) == batch;
    } catch (const c10::Error&) {
      broadcasts = false;
    }
  }
  if (!broadcasts) {
    throw DistributionError("Delta: log_density of shape " + shape_string(density.sizes()) +
                            " does not broadcast to the batch shape " + shape_string(batch));
  }
  log_density_ = density.expand(batch);
  set_shapes(std::move(batch), std::move(event));
}

Tensor Delta::log_prob(const Tensor& x) const {
  validate_sample(x);
  // A view of the value itself (the usual case in a guide's trace) matches everywhere.
  if (x.data_ptr() == value_.data_ptr() && x.sizes() == value_.sizes() && x.strides() == value_.strides() &&
      x.scalar_type() == value_.scalar_type()) {
    return log_density_.expand(x.sizes().slice(0, x.dim() - event_dim()));
  }
  auto matches = (x == value_).to(at::promote_types(x.scalar_type(), value_.scalar_type()));
  return sum_rightmost(matches.log(), event_dim()) + log_density_;
}

Tensor Delta::sample(const Shape& sample_shape, at::Generator) const {
  return value_.detach().expand(extended_shape(sample_shape));
}

Tensor Delta::rsample(const Shape& sample_shape, at::Generator) const {
  return value_.expand(extended_shape(sample_shape));
}

Constraint Delta::support() const { return constraints::real().with_extra_event_dims(event_dim()); }

DistPtr Delta::expand(const Shape& batch_shape) const {
  check_expand(batch_shape);
  Shape full = batch_shape;
  full.insert(full.end(), event_shape().begin(), event_shape().end());
  return std::make_shared<Delta>(value_.expand(full), log_density_.expand(batch_shape), event_dim());
}

}  // namespace amortize::dist
