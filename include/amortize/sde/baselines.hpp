// The two baselines ARCTA is compared with, trained on short windows of an evenly sampled
// series with the same drift network: a neural ODE by the adjoint method (adjoint.hpp) and a
// latent SDE by back-propagating through an Euler-Maruyama solve. Both draw batches of windows
// of W consecutive observations at random without replacement, epoch after epoch (the authors'
// batching for predator-prey: 10 windows of 8 points), start each window at its first
// observation and score the solution at the window's times.
#pragma once
#include "amortize/sde/adjoint.hpp"
#include "amortize/sde/time_series.hpp"

#include <random>
#include <vector>

namespace amortize::sde {

struct WindowBatch {
  Tensor x0;                  // [B, D] each window's first observation
  Tensor x;                   // [W, B, D] the windows, time first
  std::vector<double> times;  // the W times relative to each window's start (from 0)
};

class WindowBatcher {
 public:
  // series.x is [N, D] with evenly spaced times (relative spread below 1e-6); window >= 2.
  WindowBatcher(const TimeSeries& series, int64_t window, int64_t batch, uint64_t seed);
  WindowBatch next();
  int64_t num_windows() const { return static_cast<int64_t>(order_.size()); }

 private:
  TimeSeries series_;
  int64_t window_, batch_;
  std::vector<double> times_;
  std::vector<int64_t> order_;
  size_t position_ = 0;
  std::mt19937_64 rng_;
};

// Mean squared error of the adjoint-trained neural ODE's solution against the batch (the
// gradient reaches `params` through odeint_adjoint; NFE counted on the options' counters).
Tensor adjoint_window_loss(const DriftFn& drift, const std::vector<Tensor>& params, const WindowBatch& batch,
                           const AdjointOptions& options);

struct EulerMaruyamaBaselineOptions {
  double dt = 1e-2;                    // the solver's fixed step
  int64_t paths = 1;                   // sample paths per window
  double observation_variance = 1e-4;  // x ~ N(z, variance)
};

// The latent SDE dz = f(z) dt + sqrt(c) dW started at each window's first observation and
// solved by Euler-Maruyama with autograd on: the negative Gaussian log-likelihood of the
// window's observations per observed value, averaged over the sample paths (a Monte Carlo
// estimate of the expected log-likelihood; its gradient reaches the drift's parameters and
// log_c [D] through the solve). Drift evaluations are counted on `nfe` (forward solve; the
// backward pass makes one vector-Jacobian product per evaluation, as many again).
Tensor euler_maruyama_window_loss(const DriftFn& drift, const Tensor& log_c, const WindowBatch& batch,
                                  const EulerMaruyamaBaselineOptions& options, at::Generator gen,
                                  NfeCounter* nfe = nullptr);

}  // namespace amortize::sde
