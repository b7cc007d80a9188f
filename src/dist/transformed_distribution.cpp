#include "amortize/dist/transformed_distribution.hpp"

#include "amortize/dist/independent.hpp"

#include <c10/core/GradMode.h>

#include <algorithm>

namespace amortize::dist {
namespace {
Shape concat(const Shape& a, const Shape& b) {
  Shape out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}
}  // namespace

TransformedDistribution::TransformedDistribution(DistPtr base, std::vector<TransformPtr> transforms)
    : base_(std::move(base)), transforms_(std::move(transforms)) {
  require(base_ != nullptr, "TransformedDistribution: base distribution is null");
  for (const auto& t : transforms_) require(t != nullptr, "TransformedDistribution: a transform is null");
  const ComposeTransform chain(transforms_);
  const Shape base_shape = concat(base_->batch_shape(), base_->event_shape());
  const int64_t base_event_dim = base_->event_dim();
  const int64_t domain_event_dim = chain.domain_event_dim();
  if (static_cast<int64_t>(base_shape.size()) < domain_event_dim) {
    throw DistributionError("TransformedDistribution: " + chain.name() + " needs values with " +
                            std::to_string(domain_event_dim) + " event dims but the base " + base_->type_name() +
                            " has shape " + shape_string(base_shape));
  }
  const Shape forward_shape = chain.forward_shape(base_shape);
  const Shape expanded_base_shape = chain.inverse_shape(forward_shape);
  if (expanded_base_shape != base_shape) {
    base_ = base_->expand(Shape(expanded_base_shape.begin(), expanded_base_shape.end() - base_event_dim));
  }
  if (domain_event_dim > base_event_dim)
    base_ = std::make_shared<Independent>(base_, domain_event_dim - base_event_dim);

  const int64_t change = chain.codomain_event_dim() - domain_event_dim;
  const int64_t event_dim = std::max(chain.codomain_event_dim(), base_event_dim + change);
  const auto cut = forward_shape.end() - event_dim;
  set_shapes(Shape(forward_shape.begin(), cut), Shape(cut, forward_shape.end()));
}

Tensor TransformedDistribution::log_prob(const Tensor& value) const {
  validate_sample(value);
  int64_t event_dim = this->event_dim();
  Tensor log_det_sum;
  Tensor y = value;
  for (auto it = transforms_.rbegin(); it != transforms_.rend(); ++it) {
    const auto& t = *it;
    Tensor x = t->inverse(y);
    event_dim += t->domain_event_dim() - t->codomain_event_dim();
    Tensor term = sum_rightmost(t->log_abs_det_jacobian(x, y), event_dim - t->domain_event_dim());
    log_det_sum = log_det_sum.defined() ? log_det_sum + term : term;
    y = x;
  }
  Tensor lp = sum_rightmost(base_->log_prob(y), event_dim - base_->event_dim());
  return log_det_sum.defined() ? lp - log_det_sum : lp;
}

Tensor TransformedDistribution::sample(const Shape& sample_shape, at::Generator gen) const {
  at::NoGradGuard no_grad;
  Tensor x = base_->sample(sample_shape, std::move(gen));
  for (const auto& t : transforms_) x = t->forward(x);
  return x;
}

Tensor TransformedDistribution::rsample(const Shape& sample_shape, at::Generator gen) const {
  if (!base_->has_rsample()) not_implemented("rsample (the base " + base_->type_name() + " has none)");
  Tensor x = base_->rsample(sample_shape, std::move(gen));
  for (const auto& t : transforms_) x = t->forward(x);
  return x;
}

Constraint TransformedDistribution::support() const {
  if (transforms_.empty()) return base_->support();
  Constraint support = transforms_.back()->codomain();
  const int64_t extra = event_dim() - support.event_dim();
  return extra > 0 ? support.with_extra_event_dims(extra) : support;
}

DistPtr TransformedDistribution::expand(const Shape& batch_shape) const {
  check_expand(batch_shape);
  Shape shape = concat(batch_shape, event_shape());
  for (auto it = transforms_.rbegin(); it != transforms_.rend(); ++it) shape = (*it)->inverse_shape(shape);
  const Shape base_batch(shape.begin(), shape.end() - base_->event_dim());
  return std::make_shared<TransformedDistribution>(base_->expand(base_batch), transforms_);
}

}  // namespace amortize::dist
