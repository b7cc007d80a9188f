#include "continuous_detail.hpp"

#include <limits>

namespace amortize::dist::continuous_detail {
namespace {
// Above this argument the asymptotic series are used; their first omitted terms are O(x^-7).
constexpr double kSeriesThreshold = 20.0;
}  // namespace

std::vector<Tensor> broadcast_named(const std::string& dist, const std::vector<TensorArg>& args) {
  try {
    return broadcast_args(args);
  } catch (const DistributionError& e) {
    throw DistributionError(dist + ": " + e.what());
  }
}

Tensor log1p_square_ratio(const Tensor& diff, const Tensor& scale) {
  // Where |diff| > scale: log(1 + r^2) = 2 (log|diff| - log(scale)) + log1p((scale / diff)^2).
  // Both branches get safe inputs so that neither produces inf or NaN in the branch where()
  // discards (which would poison the gradient).
  auto abs_diff = diff.abs();
  auto small = abs_diff <= scale;
  auto diff_small = at::where(small, diff, at::zeros_like(diff));
  auto diff_large = at::where(small, at::ones_like(abs_diff), abs_diff);
  auto scale_large = at::where(small, at::ones_like(scale), scale);
  auto small_branch = at::log1p((diff_small / scale).square());
  auto large_branch = 2 * (diff_large.log() - scale_large.log()) + at::log1p((scale_large / diff_large).square());
  return at::where(small, small_branch, large_branch);
}

Tensor log_gamma_half_ratio(const Tensor& x) {
  auto large = x > kSeriesThreshold;
  auto x_small = at::where(large, at::ones_like(x), x);
  auto x_large = at::where(large, x, at::full_like(x, kSeriesThreshold + 1));
  auto direct = at::lgamma(x_small + 0.5) - at::lgamma(x_small) - 0.5 * x_small.log();
  // -1/(8x) + 1/(192x^3) - 1/(640x^5), from the Bernoulli-polynomial expansion of lgamma(x+h).
  auto r = x_large.reciprocal();
  auto r2 = r.square();
  auto series = r * (-1.0 / 8 + r2 * (1.0 / 192 - r2 / 640));
  return at::where(large, series, direct);
}

Tensor weighted_digamma_half_difference(const Tensor& x) {
  auto large = x > kSeriesThreshold;
  auto x_small = at::where(large, at::ones_like(x), x);
  auto x_large = at::where(large, x, at::full_like(x, kSeriesThreshold + 1));
  auto direct = (x_small + 0.5) * (at::digamma(x_small + 0.5) - at::digamma(x_small));
  // digamma(x+1/2) - digamma(x) = 1/(2x) + 1/(8x^2) - 1/(64x^4) + 1/(128x^6) + O(x^-8).
  auto r = x_large.reciprocal();
  auto r2 = r.square();
  auto difference = r * (0.5 + r * (1.0 / 8 + r2 * (-1.0 / 64 + r2 / 128)));
  return at::where(large, (x_large + 0.5) * difference, direct);
}

Tensor minus_inf_unless(const Tensor& keep, const Tensor& log_density) {
  return at::where(keep, log_density, at::full({}, -std::numeric_limits<double>::infinity(), log_density.options()));
}

double smallest_normal(at::ScalarType dtype) {
  switch (dtype) {
    case at::kDouble:
      return std::numeric_limits<double>::min();
    case at::kHalf:
      return 6.103515625e-05;
    default:
      return std::numeric_limits<float>::min();
  }
}

double machine_epsilon(at::ScalarType dtype) {
  switch (dtype) {
    case at::kDouble:
      return std::numeric_limits<double>::epsilon();
    case at::kHalf:
      return 9.765625e-04;
    case at::kBFloat16:
      return 7.8125e-03;
    default:
      return std::numeric_limits<float>::epsilon();
  }
}

}  // namespace amortize::dist::continuous_detail
