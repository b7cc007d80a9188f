#include "amortize/sde/stratified.hpp"

#include <stdexcept>
#include <string>

namespace amortize::sde {

StratifiedTimeSampler::StratifiedTimeSampler(int64_t strata) : strata_(strata) {
  if (strata < 1)
    throw std::invalid_argument("StratifiedTimeSampler: strata must be positive, got " + std::to_string(strata));
}

Tensor StratifiedTimeSampler::sample(double t0, double t1, int64_t replicas, at::Generator gen,
                                     const at::TensorOptions& options) const {
  if (!(t1 >= t0)) throw std::invalid_argument("StratifiedTimeSampler::sample: t1 < t0");
  if (replicas < 1) throw std::invalid_argument("StratifiedTimeSampler::sample: replicas must be positive");
  const double width = (t1 - t0) / static_cast<double>(strata_);
  const Tensor u = at::rand({replicas, strata_}, gen, options);
  const Tensor left = at::linspace(t0, t0 + width * static_cast<double>(strata_ - 1), strata_, options);
  return at::add(left, u, width);  // (no scalar arithmetic: a double would be copied to u's dtype each call)
}

Tensor StratifiedTimeSampler::integrate(const std::function<Tensor(const Tensor&)>& f, double t0, double t1,
                                        int64_t replicas, at::Generator gen,
                                        const at::TensorOptions& options) const {
  return f(sample(t0, t1, replicas, gen, options)).mean(-1) * (t1 - t0);
}

Tensor plain_monte_carlo_integral(const std::function<Tensor(const Tensor&)>& f, double t0, double t1, int64_t n,
                                  int64_t replicas, at::Generator gen, const at::TensorOptions& options) {
  const Tensor t = at::rand({replicas, n}, gen, options).mul_(t1 - t0).add_(t0);
  return f(t).mean(-1) * (t1 - t0);
}

}  // namespace amortize::sde
