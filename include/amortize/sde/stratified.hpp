// Stratified Monte Carlo over a time span: [t0, t1] is cut into S equal strata and each of R
// independent replicas draws one uniform time per stratum. The estimate of an integral is
// (t1 - t0) times the mean over the strata; its variance falls as O(S^-3) for smooth
// integrands instead of plain Monte Carlo's O(S^-1). ARCTA uses it for the residual's integral.
#pragma once
#include <ATen/ATen.h>

#include <functional>

namespace amortize::sde {

using Tensor = at::Tensor;

class StratifiedTimeSampler {
 public:
  explicit StratifiedTimeSampler(int64_t strata);
  int64_t strata() const { return strata_; }

  // [replicas, strata] times, row r holding one uniform draw in each stratum (increasing).
  Tensor sample(double t0, double t1, int64_t replicas, at::Generator gen, const at::TensorOptions& options) const;

  // Estimates of the integral of f over [t0, t1], one per replica ([replicas]). f maps a
  // [replicas, strata] tensor of times to values of the same shape.
  Tensor integrate(const std::function<Tensor(const Tensor&)>& f, double t0, double t1, int64_t replicas,
                   at::Generator gen, const at::TensorOptions& options) const;

 private:
  int64_t strata_;
};

// Plain Monte Carlo with n uniform times per replica, for comparison ([replicas]).
Tensor plain_monte_carlo_integral(const std::function<Tensor(const Tensor&)>& f, double t0, double t1, int64_t n,
                                  int64_t replicas, at::Generator gen, const at::TensorOptions& options);

}  // namespace amortize::sde
