// Smallest positive normal number and machine epsilon of a floating dtype (numpy's finfo),
// for the clamps that keep transformed values strictly inside their sets.
#pragma once
#include <ATen/ATen.h>

namespace amortize::dist {

struct FloatLimits {
  double tiny;
  double eps;
};

inline FloatLimits float_limits(at::ScalarType dtype) {
  FloatLimits limits{0.0, 0.0};
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, dtype, "float_limits", [&] {
    limits.tiny = static_cast<double>(std::numeric_limits<scalar_t>::min());
    limits.eps = static_cast<double>(std::numeric_limits<scalar_t>::epsilon());
  });
  return limits;
}

}  // namespace amortize::dist
