// The ARCTA residual: how far a Markov Gaussian process posterior with marginals
// N(m(t), diag exp(l(t))) is from satisfying the prior SDE dz = f(z, t) dt + diag(sqrt(c)) dW.
// For a diagonal covariance the Lyapunov equation has the closed form
// a_k = (c_k / S_k - dl_k/dt) / 2, the posterior drift is dm/dt - a (z - m), and the residual
// r = a (m - z) + dm/dt - f(z, t) is weighted by the diffusion: |r|^2_C = sum_k r_k^2 / c_k.
// Everything is batched: any leading shape of samples and times, the state last.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <memory>

namespace amortize::sde {

using Tensor = at::Tensor;

// A drift f(z, t): z is [..., D] and t has z's leading shape [...] (or broadcasts to it).
using DriftFn = std::function<Tensor(const Tensor& z, const Tensor& t)>;

// Counts drift evaluations: every call adds one per state, i.e. z.numel() / D.
class NfeCounter {
 public:
  void add(int64_t n) { count_ += n; }
  int64_t count() const { return count_; }
  void reset() { count_ = 0; }

 private:
  int64_t count_ = 0;
};

// Wraps a drift so that each call is counted on `counter` (which must outlive the wrapper).
DriftFn counted(DriftFn drift, NfeCounter& counter);

// The posterior's marginal path at some query times: mean m, log-variance l and their time
// derivatives, all the same shape [..., D].
struct MarginalPath {
  Tensor m, l, dm, dl;
};

// a = (c / exp(l) - dl) / 2, broadcast over c's and l's shapes.
Tensor lyapunov_coefficient(const Tensor& c, const Tensor& l, const Tensor& dl);

// z = m + exp(l / 2) * eps.
Tensor reparameterize(const Tensor& m, const Tensor& l, const Tensor& eps);

// r = a (m - z) + dm/dt - f(z, t) with z = m + exp(l/2) eps. eps broadcasts against the path
// (e.g. path [S, D] or [R, S, D], eps [R, S, D]); c broadcasts too ([D] or [R, 1, D]); t has the
// path's leading shape. The drift is called once, on the whole batch.
Tensor residual(const MarginalPath& path, const Tensor& eps, const Tensor& c, const DriftFn& drift,
                const Tensor& t);

// sum_k r_k^2 / c_k over the last dimension.
Tensor weighted_squared_norm(const Tensor& r, const Tensor& c);

// weighted_squared_norm(residual(...), c): shape of the broadcast leading dimensions.
Tensor normed_residual(const MarginalPath& path, const Tensor& eps, const Tensor& c, const DriftFn& drift,
                       const Tensor& t);

}  // namespace amortize::sde
