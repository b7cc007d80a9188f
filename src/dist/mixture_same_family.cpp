#include "amortize/dist/mixture_same_family.hpp"

#include <ATen/InferSize.h>

namespace amortize::dist {
namespace {
std::shared_ptr<const Categorical> as_categorical(const DistPtr& mixture) {
  require(mixture != nullptr, "MixtureSameFamily: mixture distribution is null");
  auto categorical = std::dynamic_pointer_cast<const Categorical>(mixture);
  require(categorical != nullptr,
          "MixtureSameFamily: mixture distribution must be a Categorical, got " + mixture->type_name());
  return categorical;
}
}  // namespace

MixtureSameFamily::MixtureSameFamily(const Categorical& mixture, DistPtr component)
    : MixtureSameFamily(mixture.clone(), std::move(component)) {}

MixtureSameFamily::MixtureSameFamily(DistPtr mixture, DistPtr component)
    : mixture_(as_categorical(mixture)), component_(std::move(component)) {
  require(component_ != nullptr, "MixtureSameFamily: component distribution is null");
  const Shape& cb = component_->batch_shape();
  const int64_t k = mixture_->num_categories();
  require(!cb.empty() && cb.back() == k, "MixtureSameFamily: component batch shape " + shape_string(cb) +
                                             " must end in the number of components " + std::to_string(k) +
                                             " of the mixture");
  const Shape component_batch(cb.begin(), cb.end() - 1);
  Shape batch;
  try {
    batch = to_shape(at::infer_size(mixture_->batch_shape(), component_batch));
  } catch (const c10::Error&) {
    throw DistributionError("MixtureSameFamily: mixture batch shape " + shape_string(mixture_->batch_shape()) +
                            " does not broadcast with component batch shape " + shape_string(component_batch));
  }
  if (batch != mixture_->batch_shape()) mixture_ = as_categorical(mixture_->expand(batch));
  Shape batch_k = batch;
  batch_k.push_back(k);
  if (batch_k != cb) component_ = component_->expand(batch_k);
  set_shapes(batch, component_->event_shape());
}

Tensor MixtureSameFamily::log_prob(const Tensor& value) const {
  const int64_t ed = event_dim();
  if (validation_enabled() &&
      (value.dim() < ed || !std::equal(event_shape().begin(), event_shape().end(), value.sizes().end() - ed))) {
    throw DistributionError("MixtureSameFamily: value of shape " + shape_string(value.sizes()) +
                            " does not end in the event shape " + shape_string(event_shape()));
  }
  // (*sample, *batch, 1, *event) against the components' (*batch, K, *event).
  const auto per_component = component_->log_prob(value.unsqueeze(value.dim() - ed));
  return at::logsumexp(per_component + mixture_->logits(), -1);
}

Tensor MixtureSameFamily::sample(const Shape& sample_shape, at::Generator gen) const {
  at::NoGradGuard no_grad;
  const auto draws = component_->sample(sample_shape, gen);        // (*sample, *batch, K, *event)
  auto index = mixture_->sample(sample_shape, gen).to(at::kLong);  // (*sample, *batch)
  Shape index_shape = to_shape(index.sizes());
  index_shape.push_back(1);
  for (int64_t i = 0; i < event_dim(); ++i) index_shape.push_back(1);
  Shape gather_shape = to_shape(draws.sizes());
  gather_shape[draws.dim() + component_dim()] = 1;
  index = index.reshape(index_shape).expand(gather_shape);
  return draws.gather(draws.dim() + component_dim(), index).squeeze(draws.dim() + component_dim());
}

Tensor MixtureSameFamily::rsample(const Shape&, at::Generator) const {
  throw DistributionError(
      "MixtureSameFamily: rsample is not available (the component choice is discrete); use sample, or "
      "marginalise with log_prob");
}

Tensor MixtureSameFamily::weights_for_moments() const {
  Shape shape = to_shape(mixture_->probs().sizes());
  for (int64_t i = 0; i < event_dim(); ++i) shape.push_back(1);
  return mixture_->probs().reshape(shape);
}

Tensor MixtureSameFamily::mean() const { return (weights_for_moments() * component_->mean()).sum(component_dim()); }

Tensor MixtureSameFamily::variance() const {
  const auto w = weights_for_moments();
  const auto means = component_->mean();
  const auto mixture_mean = (w * means).sum(component_dim(), /*keepdim=*/true);
  const auto within = (w * component_->variance()).sum(component_dim());
  const auto between = (w * (means - mixture_mean).square()).sum(component_dim());
  return within + between;
}

Constraint MixtureSameFamily::support() const {
  Constraint s = component_->support();
  if (event_dim() != 0) return s;
  // Bounds given per component (shape (*batch, K)) become the hull over components.
  const int64_t k = num_components();
  const auto batch_dims = static_cast<int64_t>(batch_shape().size()) + 1;
  auto hull = [&](const Tensor& t, bool lower) {
    if (!t.defined() || t.dim() != batch_dims || t.size(-1) != k) return t;
    return lower ? std::get<0>(t.min(-1)) : std::get<0>(t.max(-1));
  };
  return Constraint(s.kind(), hull(s.lower(), true), hull(s.upper(), false), s.event_dim());
}

DistPtr MixtureSameFamily::expand(const Shape& batch_shape) const {
  check_expand(batch_shape);
  Shape batch_k = batch_shape;
  batch_k.push_back(num_components());
  return std::make_shared<MixtureSameFamily>(mixture_->expand(batch_shape), component_->expand(batch_k));
}

}  // namespace amortize::dist
