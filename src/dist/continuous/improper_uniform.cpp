#include "amortize/dist/continuous/improper_uniform.hpp"

#include <ATen/InferSize.h>

#include <algorithm>

namespace amortize::dist {
namespace {
void require_sizes_nonnegative(const char* what, const Shape& shape) {
  if (std::any_of(shape.begin(), shape.end(), [](int64_t s) { return s < 0; })) {
    throw DistributionError(std::string("ImproperUniform: ") + what + " " + shape_string(shape) +
                            " has a negative size");
  }
}
}  // namespace

ImproperUniform::ImproperUniform(Constraint support, Shape batch_shape, Shape event_shape, at::TensorOptions options)
    : support_(std::move(support)), options_(options) {
  require_sizes_nonnegative("batch shape", batch_shape);
  require_sizes_nonnegative("event shape", event_shape);
  if (static_cast<int64_t>(event_shape.size()) < support_.event_dim()) {
    throw DistributionError("ImproperUniform: event shape " + shape_string(event_shape) + " has fewer than the " +
                            std::to_string(support_.event_dim()) + " dimensions of one value of the support " +
                            support_.name());
  }
  set_shapes(std::move(batch_shape), std::move(event_shape));
}

Tensor ImproperUniform::log_prob(const Tensor& value) const {
  validate_sample(value);
  const auto sizes = value.sizes();
  auto batch = at::infer_size(sizes.slice(0, sizes.size() - event_dim()), batch_shape());
  auto dtype = at::isFloatingType(value.scalar_type()) ? value.scalar_type() : options_.dtype().toScalarType();
  return at::zeros(batch, value.options().dtype(dtype));
}

Tensor ImproperUniform::sample(const Shape&, at::Generator) const { return rsample(); }

Tensor ImproperUniform::rsample(const Shape&, at::Generator) const {
  throw DistributionError("ImproperUniform: cannot be sampled, it has no normalised density (on " + support().name() +
                          "); its value must come from elsewhere, e.g. a guide");
}

Constraint ImproperUniform::support() const {
  return support_.with_extra_event_dims(event_dim() - support_.event_dim());
}

DistPtr ImproperUniform::expand(const Shape& batch_shape) const {
  check_expand(batch_shape);
  return std::make_shared<ImproperUniform>(support_, batch_shape, event_shape(), options_);
}

}  // namespace amortize::dist
