#include "amortize/dist/discrete/categorical.hpp"

#include "discrete_math.hpp"

#include <ATen/InferSize.h>

#include <limits>

namespace amortize::dist {
using namespace discrete_math;

Categorical::Categorical(TensorArg param, ProbsOrLogits kind) : kind_(kind) {
  given_ = broadcast_args({param})[0];
  require(given_.dim() >= 1, "Categorical: " + std::string(kind == ProbsOrLogits::Probs ? "probs" : "logits") +
                                 " must have at least one dimension (the categories), got shape " +
                                 shape_string(given_.sizes()));
  require(given_.size(-1) >= 1, "Categorical: the number of categories must be at least 1");
  if (kind == ProbsOrLogits::Probs) {
    require_nonnegative("Categorical", "probs", given_);
    if (validation_enabled()) {
      require((given_.detach().sum(-1) > 0).all().item<bool>(), "Categorical: probs must have a positive sum");
    }
    probs_ = given_ / given_.sum(-1, /*keepdim=*/true);
    logits_ = log_or_minus_inf(probs_);
  } else {
    require_not_nan("Categorical", "logits", given_);
    logits_ = at::log_softmax(given_, -1);
    probs_ = at::softmax(given_, -1);
  }
  set_shapes(to_shape(given_.sizes().slice(0, given_.dim() - 1)));
}

Tensor Categorical::category_values() const { return at::arange(num_categories(), options()); }

Tensor Categorical::log_prob(const Tensor& value) const {
  validate_sample(value);
  auto shape = at::infer_size(value.sizes(), batch_shape());
  Shape with_categories(shape.begin(), shape.end());
  with_categories.push_back(num_categories());
  auto index = value.to(at::kLong).expand(shape).unsqueeze(-1);
  return logits_.expand(with_categories).gather(-1, index).squeeze(-1);
}

Tensor Categorical::sample(const Shape& sample_shape, at::Generator gen) const {
  at::NoGradGuard no_grad;
  int64_t draws = 1;
  for (auto s : sample_shape) draws *= s;
  const auto flat = probs_.detach().reshape({-1, num_categories()});
  auto out_shape = extended_shape(sample_shape);
  if (draws == 0) return at::empty(out_shape, options());
  // multinomial gives (batch, draws); put the draws first to match sample_shape + batch_shape.
  auto indices = at::multinomial(flat, draws, /*replacement=*/true, gen).t();
  return indices.reshape(out_shape).to(options().dtype());
}

Tensor Categorical::mean() const { return (probs_ * category_values()).sum(-1); }

Tensor Categorical::variance() const {
  auto centred = category_values() - mean().unsqueeze(-1);
  return (probs_ * centred.square()).sum(-1);
}

Tensor Categorical::entropy() const {
  // Categories with zero probability have logit -inf; clamping keeps 0 * logit at 0.
  const double lowest =
      options().dtype() == at::kDouble ? std::numeric_limits<double>::lowest() : std::numeric_limits<float>::lowest();
  return -(probs_ * at::clamp_min(logits_, lowest)).sum(-1);
}

Tensor Categorical::enumerate_support(bool expand) const {
  Shape shape(batch_shape().size() + 1, 1);
  shape[0] = num_categories();
  auto values = category_values().reshape(shape);
  if (!expand) return values;
  Shape full = batch_shape();
  full.insert(full.begin(), num_categories());
  return values.expand(full);
}

Constraint Categorical::support() const {
  return constraints::integer_interval(0.0, static_cast<double>(num_categories() - 1));
}

DistPtr Categorical::expand(const Shape& batch_shape) const {
  check_expand(batch_shape);
  Shape with_categories = batch_shape;
  with_categories.push_back(num_categories());
  return std::make_shared<Categorical>(given_.expand(with_categories), kind_);
}

}  // namespace amortize::dist
