#include "amortize/sde/baselines.hpp"

#include "amortize/sde/solvers.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

namespace amortize::sde {
namespace {
constexpr double kLog2Pi = 1.83787706640934548356;
}

WindowBatcher::WindowBatcher(const TimeSeries& series, int64_t window, int64_t batch, uint64_t seed)
    : series_(series), window_(window), batch_(batch), rng_(seed) {
  const int64_t n = series.t.size(0);
  if (series.x.dim() != 2 || series.x.size(0) != n)
    throw std::invalid_argument("WindowBatcher: expected observations [N, D] with N times");
  if (window < 2 || batch < 1) throw std::invalid_argument("WindowBatcher: need window >= 2 and batch >= 1");
  if (n < window) throw std::invalid_argument("WindowBatcher: the series (" + std::to_string(n) + " points) is shorter than a window");
  const Tensor t = series.t.to(at::kDouble).contiguous();
  const double* tp = t.data_ptr<double>();
  const double dt = (tp[n - 1] - tp[0]) / static_cast<double>(n - 1);
  for (int64_t i = 1; i < n; ++i)
    if (std::abs(tp[i] - tp[i - 1] - dt) > 1e-6 * std::max(1.0, std::abs(dt)) + 1e-6 * std::abs(tp[i]))
      throw std::invalid_argument("WindowBatcher: the series is not evenly spaced (at index " + std::to_string(i) + ")");
  for (int64_t k = 0; k < window; ++k) times_.push_back(static_cast<double>(k) * dt);
  order_.resize(static_cast<size_t>(n - window + 1));
  std::iota(order_.begin(), order_.end(), int64_t{0});
  std::shuffle(order_.begin(), order_.end(), rng_);
}

WindowBatch WindowBatcher::next() {
  std::vector<Tensor> starts, windows;
  for (int64_t b = 0; b < batch_; ++b) {
    if (position_ == order_.size()) {
      std::shuffle(order_.begin(), order_.end(), rng_);
      position_ = 0;
    }
    const int64_t i = order_[position_++];
    starts.push_back(series_.x[i]);
    windows.push_back(series_.x.narrow(0, i, window_));
  }
  return {at::stack(starts), at::stack(windows, 1), times_};
}

Tensor adjoint_window_loss(const DriftFn& drift, const std::vector<Tensor>& params, const WindowBatch& batch,
                           const AdjointOptions& options) {
  return (odeint_adjoint(drift, params, batch.x0, batch.times, options) - batch.x).square().mean();
}

Tensor euler_maruyama_window_loss(const DriftFn& drift, const Tensor& log_c, const WindowBatch& batch,
                                  const EulerMaruyamaBaselineOptions& options, at::Generator gen, NfeCounter* nfe) {
  if (options.paths < 1 || !(options.dt > 0) || !(options.observation_variance > 0))
    throw std::invalid_argument("euler_maruyama_window_loss: paths, dt and observation_variance must be positive");
  const int64_t d = batch.x0.size(-1);
  if (log_c.numel() != d) throw std::invalid_argument("euler_maruyama_window_loss: log_c must hold one value per state dimension");
  // [K, B, D]: K paths per window.
  const Tensor z0 = batch.x0.unsqueeze(0).expand({options.paths, batch.x0.size(0), d}).contiguous();
  BrownianPath path(0.0, z0.sizes().vec(), z0.options(), std::move(gen));
  SdeSolveOptions so;
  so.method = SdeMethod::kEulerMaruyama;
  so.dt = options.dt;
  so.nfe = nfe;
  const DiagonalSde sde{drift, constant_diffusion((0.5 * log_c).exp())};
  const Tensor z = sdeint(sde, z0, batch.times, path, so);  // [W, K, B, D]
  const double v = options.observation_variance;
  const Tensor nll = 0.5 * ((z - batch.x.unsqueeze(1)).square() / v + kLog2Pi + std::log(v));
  return nll.mean();
}

}  // namespace amortize::sde
