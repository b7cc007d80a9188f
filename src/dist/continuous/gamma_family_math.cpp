#include "gamma_family_math.hpp"

#include <limits>

namespace amortize::dist::gamma_family {

std::vector<Tensor> broadcast_named(const std::string& dist, const std::vector<TensorArg>& args) {
  try {
    return broadcast_args(args);
  } catch (const DistributionError& e) {
    throw DistributionError(dist + ": " + e.what());
  }
}

Tensor xlogx_power(const Tensor& coef, const Tensor& x) {
  // Replacing x by 1 where the term is 0 anyway keeps log and its gradient finite there.
  auto safe_x = at::where((coef == 0) & (x == 0), at::ones_like(x), x);
  return coef * safe_x.log();
}

Tensor xlog1mx_power(const Tensor& coef, const Tensor& x) {
  auto safe_x = at::where((coef == 0) & (x == 1), at::zeros_like(x), x);
  return coef * at::log1p(-safe_x);
}

Tensor log_beta(const Tensor& a, const Tensor& b) { return at::lgamma(a) + at::lgamma(b) - at::lgamma(a + b); }

double smallest_normal(at::ScalarType dtype) {
  switch (dtype) {
    case at::kDouble:
      return std::numeric_limits<double>::min();
    case at::kHalf:
      return 6.103515625e-05;
    default:
      return std::numeric_limits<float>::min();  // float and bfloat16
  }
}

}  // namespace amortize::dist::gamma_family
