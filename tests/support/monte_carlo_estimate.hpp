// A Monte-Carlo estimate: the mean of independent per-draw values with its standard error, for
// tolerances of the form |estimate - truth| <= kMonteCarloZ * standard_error.
#pragma once
#include <ATen/ATen.h>

#include <cmath>

namespace amortize::testing {

struct MonteCarloEstimate {
  double mean;
  double standard_error;
};

inline MonteCarloEstimate monte_carlo(const at::Tensor& per_draw) {
  auto v = per_draw.detach().to(at::kDouble).reshape(-1);
  return {v.mean().item<double>(), v.std().item<double>() / std::sqrt(static_cast<double>(v.numel()))};
}

}  // namespace amortize::testing
