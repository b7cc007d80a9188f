#include "amortize/sde/dopri5.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace amortize::sde {
namespace {

// Dormand-Prince tableau.
constexpr double c2 = 1.0 / 5, c3 = 3.0 / 10, c4 = 4.0 / 5, c5 = 8.0 / 9;
constexpr double a21 = 1.0 / 5;
constexpr double a31 = 3.0 / 40, a32 = 9.0 / 40;
constexpr double a41 = 44.0 / 45, a42 = -56.0 / 15, a43 = 32.0 / 9;
constexpr double a51 = 19372.0 / 6561, a52 = -25360.0 / 2187, a53 = 64448.0 / 6561, a54 = -212.0 / 729;
constexpr double a61 = 9017.0 / 3168, a62 = -355.0 / 33, a63 = 46732.0 / 5247, a64 = 49.0 / 176,
                 a65 = -5103.0 / 18656;
constexpr double b1 = 35.0 / 384, b3 = 500.0 / 1113, b4 = 125.0 / 192, b5 = -2187.0 / 6784, b6 = 11.0 / 84;
// b - b* (5th minus 4th order weights); the 7th stage is FSAL.
constexpr double e1 = 35.0 / 384 - 5179.0 / 57600, e3 = 500.0 / 1113 - 7571.0 / 16695,
                 e4 = 125.0 / 192 - 393.0 / 640, e5 = -2187.0 / 6784 + 92097.0 / 339200,
                 e6 = 11.0 / 84 - 187.0 / 2100, e7 = -1.0 / 40;

double rms_ratio(const Tensor& err, const Tensor& y0, const Tensor& y1, double rtol, double atol) {
  at::NoGradGuard ng;
  const Tensor scale = atol + rtol * at::maximum(y0.abs(), y1.abs());
  return (err / scale).square().mean().sqrt().item<double>();
}

}  // namespace

Tensor dopri5(const OdeFn& f, const Tensor& y0, const std::vector<double>& times, const Dopri5Options& options,
              OdeSolveStats* stats) {
  if (times.empty()) throw std::invalid_argument("dopri5: no output times");
  if (!(options.rtol > 0) || !(options.atol > 0)) throw std::invalid_argument("dopri5: rtol and atol must be positive");
  const double dir = times.size() > 1 && times[1] < times[0] ? -1.0 : 1.0;
  for (size_t i = 1; i < times.size(); ++i)
    if (!((times[i] - times[i - 1]) * dir > 0))
      throw std::invalid_argument("dopri5: output times must be strictly monotone (at index " + std::to_string(i) + ")");
  OdeSolveStats local;
  auto eval = [&](double t, const Tensor& y) {
    ++local.function_evaluations;
    return f(t, y);
  };
  std::vector<Tensor> out{y0};
  if (times.size() == 1) return at::stack(out, 0);
  Tensor y = y0;
  double t = times[0];
  Tensor k1 = eval(t, y);
  double h;  // magnitude
  if (options.first_step > 0) {
    h = options.first_step;
  } else {
    at::NoGradGuard ng;
    const Tensor scale = options.atol + options.rtol * y.abs();
    const double d0 = (y / scale).square().mean().sqrt().item<double>();
    const double d1 = (k1 / scale).square().mean().sqrt().item<double>();
    const double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
    const Tensor k_probe = eval(t + dir * h0, y + dir * h0 * k1);
    const double d2 = ((k_probe - k1) / scale).square().mean().sqrt().item<double>() / h0;
    const double h1 = std::max(d1, d2) <= 1e-15 ? std::max(1e-6, h0 * 1e-3) : std::pow(0.01 / std::max(d1, d2), 0.2);
    h = std::min(100 * h0, h1);
  }
  for (size_t i = 1; i < times.size(); ++i) {
    const double t_out = times[i];
    while ((t_out - t) * dir > 0) {
      if (local.accepted_steps + local.rejected_steps >= options.max_steps)
        throw std::runtime_error("dopri5: more than max_steps = " + std::to_string(options.max_steps) + " steps");
      const double remaining = std::abs(t_out - t);
      const bool last = h >= remaining * (1 - 1e-12);
      const double hs = dir * (last ? remaining : h);
      const Tensor k2 = eval(t + c2 * hs, y + hs * (a21 * k1));
      const Tensor k3 = eval(t + c3 * hs, y + hs * (a31 * k1 + a32 * k2));
      const Tensor k4 = eval(t + c4 * hs, y + hs * (a41 * k1 + a42 * k2 + a43 * k3));
      const Tensor k5 = eval(t + c5 * hs, y + hs * (a51 * k1 + a52 * k2 + a53 * k3 + a54 * k4));
      const Tensor k6 = eval(t + hs, y + hs * (a61 * k1 + a62 * k2 + a63 * k3 + a64 * k4 + a65 * k5));
      const Tensor y_new = y + hs * (b1 * k1 + b3 * k3 + b4 * k4 + b5 * k5 + b6 * k6);
      const double t_new = last ? t_out : t + hs;
      const Tensor k7 = eval(t_new, y_new);
      const Tensor err = hs * (e1 * k1 + e3 * k3 + e4 * k4 + e5 * k5 + e6 * k6 + e7 * k7);
      const double ratio = rms_ratio(err, y, y_new, options.rtol, options.atol);
      // A non-finite estimate (a step far beyond the stability region overflows) is a rejection.
      const double factor =
          ratio == 0 ? 10.0 : std::isfinite(ratio) ? std::clamp(0.9 * std::pow(ratio, -0.2), 0.2, 10.0) : 0.1;
      if (!std::isfinite(ratio) && std::abs(hs) <= 1e-12 * std::max(1.0, std::abs(t)))
        throw std::runtime_error("dopri5: non-finite error estimate at t = " + std::to_string(t));
      if (ratio <= 1.0) {
        y = y_new;
        k1 = k7;
        t = t_new;
        ++local.accepted_steps;
        // A step shortened to hit an output time does not shrink the next one unless its
        // error asks for it.
        h = last ? std::min(std::max(h, std::abs(hs) * factor), factor < 1.0 ? std::abs(hs) * factor : h)
                 : std::abs(hs) * factor;
      } else {
        ++local.rejected_steps;
        h = std::abs(hs) * factor;
      }
    }
    out.push_back(y);
  }
  if (stats) *stats = local;
  return at::stack(out, 0);
}

}  // namespace amortize::sde
