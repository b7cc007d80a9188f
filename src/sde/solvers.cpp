#include "amortize/sde/solvers.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace amortize::sde {
namespace {

Tensor eval_drift(const DiagonalSde& sde, const Tensor& z, const Tensor& t, NfeCounter* nfe) {
  if (nfe) nfe->add(z.dim() == 0 ? 1 : z.numel() / std::max<int64_t>(1, z.size(-1)));
  return sde.drift(z, t);
}

// One step of size h from (t, z) with Brownian increment dw.
Tensor step(const DiagonalSde& sde, SdeMethod method, double t, double h, const Tensor& z, const Tensor& dw,
            NfeCounter* nfe) {
  auto lead = z.sizes().vec();
  if (!lead.empty()) lead.pop_back();
  const Tensor tt = at::full(lead, t, z.options().requires_grad(false));
  const Tensor f = eval_drift(sde, z, tt, nfe);
  const Tensor g = sde.diffusion(z, tt);
  Tensor out = z + f * h + g * dw;
  if (method == SdeMethod::kHeun) {
    const Tensor t1 = at::full(lead, t + h, tt.options());
    const Tensor f1 = eval_drift(sde, out, t1, nfe);
    const Tensor g1 = sde.diffusion(out, t1);
    return z + (f + f1) * (0.5 * h) + (g + g1) * (0.5 * dw);
  }
  if (method == SdeMethod::kStochasticRungeKutta) {
    const double sh = std::sqrt(h);
    const Tensor support = z + f * h + g * sh;
    out = out + (sde.diffusion(support, tt) - g) * ((dw.square() - h) / (2 * sh));
  }
  return out;
}

double error_ratio(const Tensor& coarse, const Tensor& fine, const Tensor& start, double rtol, double atol) {
  at::NoGradGuard ng;
  const Tensor scale = atol + rtol * at::maximum(start.abs(), fine.abs());
  return ((fine - coarse).abs() / scale).max().item<double>();
}

}  // namespace

DriftFn constant_diffusion(const Tensor& sqrt_c) {
  return [sqrt_c](const Tensor& z, const Tensor&) { return sqrt_c.expand_as(z); };
}

Tensor sdeint(const DiagonalSde& sde, const Tensor& z0, const std::vector<double>& times, BrownianPath& path,
              const SdeSolveOptions& options, SdeSolveStats* stats) {
  if (!sde.drift || !sde.diffusion) throw std::invalid_argument("sdeint: the SDE needs a drift and a diffusion");
  if (times.empty()) throw std::invalid_argument("sdeint: no output times");
  for (size_t i = 1; i < times.size(); ++i)
    if (!(times[i] > times[i - 1])) throw std::invalid_argument("sdeint: output times must increase (at index " + std::to_string(i) + ")");
  if (!(options.dt > 0)) throw std::invalid_argument("sdeint: dt must be positive");
  if (path.shape() != z0.sizes().vec())
    throw std::invalid_argument("sdeint: the Brownian path's shape differs from z0's shape");
  if (times[0] < path.t0()) throw std::invalid_argument("sdeint: the Brownian path starts after times[0]");
  const double order = options.method == SdeMethod::kEulerMaruyama ? 0.5 : 1.0;
  std::vector<Tensor> out{z0};
  out.reserve(times.size());
  Tensor z = z0;
  double h_adapt = options.dt;
  SdeSolveStats local;
  for (size_t i = 1; i < times.size(); ++i) {
    const double a = times[i - 1], b = times[i];
    if (!options.adaptive) {
      const auto n = static_cast<int64_t>(std::ceil((b - a) / options.dt - 1e-9));
      const double h = (b - a) / static_cast<double>(n);
      double t = a;
      for (int64_t k = 0; k < n; ++k) {
        const double t_next = k + 1 == n ? b : a + static_cast<double>(k + 1) * h;
        z = step(sde, options.method, t, t_next - t, z, path.increment(t, t_next), options.nfe);
        t = t_next;
        ++local.accepted_steps;
      }
    } else {
      double t = a;
      while (t < b) {
        double h = std::min(h_adapt, b - t);
        const bool last = h >= b - t;
        const double t_next = last ? b : t + h;
        const double t_mid = t + 0.5 * (t_next - t);
        const Tensor coarse = step(sde, options.method, t, t_next - t, z, path.increment(t, t_next), options.nfe);
        const Tensor half = step(sde, options.method, t, t_mid - t, z, path.increment(t, t_mid), options.nfe);
        const Tensor fine = step(sde, options.method, t_mid, t_next - t_mid, half, path.increment(t_mid, t_next), options.nfe);
        const double err = error_ratio(coarse, fine, z, options.rtol, options.atol);
        const double factor = err > 0 ? std::clamp(0.9 * std::pow(err, -1.0 / (order + 0.5)), 0.2, 2.0) : 2.0;
        if (err <= 1.0 || h <= options.dt_min) {
          z = fine;
          t = t_next;
          ++local.accepted_steps;
          if (!last || factor < 1.0) h_adapt = std::max(options.dt_min, h * factor);
        } else {
          ++local.rejected_steps;
          h_adapt = std::max(options.dt_min, h * factor);
        }
      }
    }
    out.push_back(z);
  }
  if (stats) *stats = local;
  return at::stack(out, 0);
}

Forecast forecast(const DiagonalSde& sde, const Tensor& z0, const std::vector<double>& times, int64_t num_paths,
                  const SdeSolveOptions& options, at::Generator gen, double lower_quantile, double upper_quantile) {
  if (num_paths < 1) throw std::invalid_argument("forecast: num_paths must be positive");
  if (!(lower_quantile >= 0 && lower_quantile <= upper_quantile && upper_quantile <= 1))
    throw std::invalid_argument("forecast: need 0 <= lower_quantile <= upper_quantile <= 1");
  at::NoGradGuard ng;
  const Tensor start = z0.dim() == 1 ? z0.unsqueeze(0).expand({num_paths, z0.size(0)}).contiguous() : z0;
  if (start.dim() != 2 || start.size(0) != num_paths)
    throw std::invalid_argument("forecast: z0 must be [D] or [num_paths, D]");
  BrownianPath path(times.front(), start.sizes().vec(), start.options(), gen);
  Forecast f;
  f.paths = sdeint(sde, start, times, path, options);
  f.mean = f.paths.mean(1);
  f.lower = at::quantile(f.paths, lower_quantile, 1, false, "linear");
  f.upper = at::quantile(f.paths, upper_quantile, 1, false, "linear");
  return f;
}

}  // namespace amortize::sde
