#include "discrete_math.hpp"

#include <limits>
#include <sstream>

namespace amortize::dist::discrete_math {
namespace {
void throw_first(const std::string& dist, const std::string& arg, const Tensor& t, const Tensor& bad,
                 const char* what) {
  if (!bad.any().item<bool>()) return;
  auto first = at::nonzero(bad.cpu())[0];
  std::ostringstream out;
  out << dist << ": " << arg << " must " << what << ", got ";
  Tensor elem = t.detach().cpu();
  std::string index;
  for (int64_t d = 0; d < first.size(0); ++d) {
    const int64_t i = first[d].item<int64_t>();
    elem = elem[i];
    index += (d ? ", " : "") + std::to_string(i);
  }
  out << elem.item<double>();
  if (!index.empty()) out << " at index [" << index << "]";
  throw DistributionError(out.str());
}
}  // namespace

Tensor replace_where(const Tensor& condition, double value, const Tensor& t) {
  return at::where(condition, at::full({}, value, t.options()), t);
}

Tensor as_floating(const Tensor& value, const at::TensorOptions& options) {
  return at::isFloatingType(value.scalar_type()) ? value : value.to(options.dtype());
}

Tensor log_or_minus_inf(const Tensor& t) {
  const auto zero = t == 0;
  return replace_where(zero, -std::numeric_limits<double>::infinity(), at::log(replace_where(zero, 1.0, t)));
}

Tensor weighted_or_zero(const Tensor& weight, const Tensor& term) {
  auto product = weight * term;
  return at::where(weight == 0, at::zeros({}, product.options()), product);
}

std::pair<Tensor, Tensor> binary_probs_and_logits(const Tensor& param, ProbsOrLogits kind) {
  if (kind == ProbsOrLogits::Logits) return {at::sigmoid(param), param};
  return {param, log_or_minus_inf(param) - log_or_minus_inf(1 - param)};
}

Tensor log_success(const Tensor& param, ProbsOrLogits kind) {
  return kind == ProbsOrLogits::Logits ? -at::softplus(-param) : at::log(param);
}

Tensor log_failure(const Tensor& param, ProbsOrLogits kind) {
  return kind == ProbsOrLogits::Logits ? -at::softplus(param) : at::log1p(-param);
}

Tensor binary_log_likelihood(const Tensor& successes, const Tensor& trials, const Tensor& param, ProbsOrLogits kind) {
  const auto failures = trials - successes;
  if (kind == ProbsOrLogits::Logits) {
    // -k softplus(-l) - (n - k) softplus(l): a sum of non-positive terms, no cancellation.
    return -weighted_or_zero(successes, at::softplus(-param)) - weighted_or_zero(failures, at::softplus(param));
  }
  // Where a count is zero its logarithm is replaced by log(1) so that neither the value nor
  // the gradient sees log(0).
  const auto log_p = at::log(replace_where(successes == 0, 1.0, param));
  const auto log_q = at::log1p(-replace_where(failures == 0, 0.0, param));
  return successes * log_p + failures * log_q;
}

void require_not_nan(const std::string& dist, const std::string& arg, const Tensor& t) {
  if (validation_enabled()) throw_first(dist, arg, t, at::isnan(t.detach()), "not be NaN");
}

void require_integer(const std::string& dist, const std::string& arg, const Tensor& t) {
  if (validation_enabled()) throw_first(dist, arg, t, t.detach() != at::floor(t.detach()), "be an integer");
}

}  // namespace amortize::dist::discrete_math
