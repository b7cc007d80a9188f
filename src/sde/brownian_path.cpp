#include "amortize/sde/brownian_path.hpp"

#include <cmath>
#include <iterator>
#include <stdexcept>
#include <string>

namespace amortize::sde {

BrownianPath::BrownianPath(double t0, std::vector<int64_t> shape, const at::TensorOptions& options,
                           at::Generator gen)
    : t0_(t0), shape_(std::move(shape)), options_(options.requires_grad(false)), gen_(std::move(gen)) {
  values_.emplace(t0_, at::zeros(shape_, options_));
}

Tensor BrownianPath::noise() { return at::randn(shape_, gen_, options_); }

Tensor BrownianPath::value(double t) {
  const double tol = 1e-12 * (1.0 + std::abs(t));
  if (t < t0_ - tol) throw std::invalid_argument("BrownianPath::value: time " + std::to_string(t) + " before t0 " + std::to_string(t0_));
  auto hi = values_.lower_bound(t - tol);
  if (hi != values_.end() && std::abs(hi->first - t) <= tol) return hi->second;
  if (hi == values_.end()) {
    const auto& last = *values_.rbegin();
    Tensor w = last.second + std::sqrt(t - last.first) * noise();
    values_.emplace_hint(values_.end(), t, w);
    return w;
  }
  auto lo = std::prev(hi);
  const double ta = lo->first, tb = hi->first;
  const double wgt = (t - ta) / (tb - ta);
  const double sd = std::sqrt((t - ta) * (tb - t) / (tb - ta));
  Tensor w = lo->second + wgt * (hi->second - lo->second) + sd * noise();
  values_.emplace_hint(hi, t, w);
  return w;
}

}  // namespace amortize::sde
