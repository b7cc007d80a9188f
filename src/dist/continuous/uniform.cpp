#include "amortize/dist/continuous/uniform.hpp"

#include "continuous_detail.hpp"

#include <sstream>

namespace amortize::dist {
namespace {
// Throws "Uniform: low must be less than high, got low 2 and high 1 at index [1]".
void require_ordered(const Tensor& low, const Tensor& high) {
  if (!validation_enabled()) return;
  auto bad = ~(low < high);
  if (!bad.any().item<bool>()) return;
  auto first = at::nonzero(bad.cpu())[0];
  Tensor lo = low.detach().cpu();
  Tensor hi = high.detach().cpu();
  std::ostringstream where;
  for (int64_t d = 0; d < first.size(0); ++d) {
    const int64_t i = first[d].item<int64_t>();
    lo = lo[i];
    hi = hi[i];
    where << (d ? ", " : " at index [") << i;
  }
  if (first.size(0) > 0) where << "]";
  std::ostringstream message;
  message << "Uniform: low must be less than high, got low " << lo.item<double>() << " and high " << hi.item<double>()
          << where.str();
  throw DistributionError(message.str());
}
}  // namespace

Uniform::Uniform(TensorArg low, TensorArg high) {
  auto p = continuous_detail::broadcast_named("Uniform", {low, high});
  low_ = p[0];
  high_ = p[1];
  require_finite("Uniform", "low", low_);
  require_finite("Uniform", "high", high_);
  require_ordered(low_, high_);
  set_shapes(to_shape(low_.sizes()));
}

Tensor Uniform::log_prob(const Tensor& value) const {
  validate_sample(value);
  auto inside = (value >= low_) & (value <= high_);
  return continuous_detail::minus_inf_unless(inside, -(high_ - low_).log());
}

Tensor Uniform::rsample(const Shape& sample_shape, at::Generator gen) const {
  return icdf(at::rand(extended_shape(sample_shape), gen, options()));
}

Tensor Uniform::cdf(const Tensor& value) const { return ((value - low_) / (high_ - low_)).clamp(0, 1); }

DistPtr Uniform::expand(const Shape& batch_shape) const {
  check_expand(batch_shape);
  return std::make_shared<Uniform>(low_.expand(batch_shape), high_.expand(batch_shape));
}

}  // namespace amortize::dist
