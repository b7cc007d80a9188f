#include "amortize/sde/synthetic_series.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <array>
#include <cmath>
#include <stdexcept>
#include <vector>

namespace amortize::sde {
namespace {

// One classical Runge-Kutta step of y' = f(y) for a small fixed-size state.
template <size_t N, typename F>
std::array<double, N> rk4_step(const std::array<double, N>& y, double h, const F& f) {
  auto shifted = [&](const std::array<double, N>& k, double a) {
    std::array<double, N> out;
    for (size_t i = 0; i < N; ++i) out[i] = y[i] + a * k[i];
    return out;
  };
  const auto k1 = f(y), k2 = f(shifted(k1, h / 2)), k3 = f(shifted(k2, h / 2)), k4 = f(shifted(k3, h));
  std::array<double, N> out;
  for (size_t i = 0; i < N; ++i) out[i] = y[i] + h / 6 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
  return out;
}

constexpr int kSubsteps = 20;

}  // namespace

TimeSeries lorenz_series(const LorenzSeriesOptions& o, const at::TensorOptions& tensor_options) {
  if (!(o.dt > 0) || !(o.duration > 0) || !(o.noise_sd >= 0) || !(o.burn_in >= 0))
    throw std::invalid_argument("lorenz_series: dt and duration must be positive, noise_sd and burn_in not negative");
  const auto f = [&](const std::array<double, 3>& y) {
    return std::array<double, 3>{o.sigma * (y[1] - y[0]), y[0] * (o.rho - y[2]) - y[1], y[0] * y[1] - o.beta * y[2]};
  };
  const double h = o.dt / kSubsteps;
  std::array<double, 3> y{1.0, 1.0, 1.0};
  for (int64_t k = 0, n = std::llround(o.burn_in / h); k < n; ++k) y = rk4_step(y, h, f);
  const int64_t n = std::llround(o.duration / o.dt) + 1;
  std::vector<double> t(static_cast<size_t>(n)), x(static_cast<size_t>(3 * n));
  for (int64_t i = 0; i < n; ++i) {
    if (i > 0)
      for (int s = 0; s < kSubsteps; ++s) y = rk4_step(y, h, f);
    t[static_cast<size_t>(i)] = static_cast<double>(i) * o.dt;
    for (size_t j = 0; j < 3; ++j) x[static_cast<size_t>(3 * i) + j] = y[j];
  }
  auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  const Tensor clean = at::tensor(x, at::kDouble).view({n, 3});
  const Tensor noisy = clean + o.noise_sd * at::randn({n, 3}, gen, at::kDouble);
  return {at::tensor(t, at::kDouble).to(tensor_options), noisy.to(tensor_options)};
}

Tensor pendulum_angles(const PendulumVideoOptions& o) {
  if (!(o.frames_per_second > 0) || !(o.duration > 0) || !(o.gravity > 0) || !(o.length > 0))
    throw std::invalid_argument("pendulum_video: frames_per_second, duration, gravity and length must be positive");
  const int64_t n = static_cast<int64_t>(std::ceil(o.duration * o.frames_per_second - 1e-9));
  const double w2 = o.gravity / o.length, h = 1.0 / (o.frames_per_second * kSubsteps);
  const auto f = [w2](const std::array<double, 2>& y) { return std::array<double, 2>{y[1], -w2 * std::sin(y[0])}; };
  std::array<double, 2> y{o.theta0, 0.0};
  std::vector<double> theta(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (i > 0)
      for (int s = 0; s < kSubsteps; ++s) y = rk4_step(y, h, f);
    theta[static_cast<size_t>(i)] = y[0];
  }
  return at::tensor(theta, at::kDouble);
}

TimeSeries pendulum_video(const PendulumVideoOptions& o, const at::TensorOptions& tensor_options) {
  if (o.frame_size < 8) throw std::invalid_argument("pendulum_video: frame_size must be at least 8");
  const Tensor theta = pendulum_angles(o);
  const int64_t n = theta.size(0), side = o.frame_size;
  const double size = static_cast<double>(side);
  const double pivot_x = 0.5 * size, pivot_y = 0.3 * size, rod = 0.4 * size, radius = 0.1 * size;
  // Pixel centres against the bob's position: [N, side, side].
  const Tensor centres = at::arange(side, at::kDouble) + 0.5;
  const Tensor bob_x = (pivot_x + rod * theta.sin()).view({n, 1, 1});
  const Tensor bob_y = (pivot_y + rod * theta.cos()).view({n, 1, 1});
  const Tensor d2 = (centres.view({1, 1, side}) - bob_x).square() + (centres.view({1, side, 1}) - bob_y).square();
  const Tensor frames = (d2 <= radius * radius).to(at::kDouble).view({n, side * side});
  const Tensor t = at::arange(n, at::kDouble) / o.frames_per_second;
  return {t.to(tensor_options), frames.to(tensor_options)};
}

}  // namespace amortize::sde
