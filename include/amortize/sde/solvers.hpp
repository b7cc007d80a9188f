// Solvers for SDEs with diagonal noise, dz = f(z, t) dt + g(z, t) * dW (Ito), driven by a
// queryable BrownianPath: Euler-Maruyama (strong order 0.5, weak 1) and a derivative-free
// stochastic Runge-Kutta scheme of Milstein type (Kloeden & Platen's explicit order-1.0 strong
// scheme, weak order 1) and, for additive (constant) noise, the stochastic Heun scheme (strong
// order 1 and second order in the drift: the forecast of a nearly deterministic flow needs the
// latter), each with a fixed step or adaptive steps by step doubling. Also a
// forecast helper: N sample paths with their mean and quantile bands.
#pragma once
#include "amortize/sde/brownian_path.hpp"
#include "amortize/sde/residual.hpp"

#include <vector>

namespace amortize::sde {

struct DiagonalSde {
  DriftFn drift;      // f(z, t)
  DriftFn diffusion;  // g(z, t), z's shape (the square root of the diffusion c for ARCTA)
};

// kHeun: predictor z + f h + g dW, then z + (f(z) + f(pred)) h / 2 + (g(z) + g(pred)) dW / 2; for
// a diffusion that depends on z it converges to the Stratonovich solution, so use it for
// constant diffusion (where Ito and Stratonovich agree).
enum class SdeMethod { kEulerMaruyama, kStochasticRungeKutta, kHeun };

struct SdeSolveOptions {
  SdeMethod method = SdeMethod::kStochasticRungeKutta;
  double dt = 1e-2;         // the fixed step, or the first step when adaptive
  bool adaptive = false;    // step doubling with error control
  double rtol = 1e-3, atol = 1e-3;
  double dt_min = 1e-8;     // adaptive: a step this small is accepted whatever its error
  NfeCounter* nfe = nullptr;  // counts drift evaluations (one per state)
};

struct SdeSolveStats {
  int64_t accepted_steps = 0, rejected_steps = 0;
};

// z at every output time: [T, z0's shape]; times[0] is the start. The path's shape must be
// z0's; its t0 at most times[0]. Differentiable when autograd is on (for the back-propagated
// Euler-Maruyama baseline).
Tensor sdeint(const DiagonalSde& sde, const Tensor& z0, const std::vector<double>& times, BrownianPath& path,
              const SdeSolveOptions& options, SdeSolveStats* stats = nullptr);

// Diagonal diffusion sqrt(c) constant in z and t.
DriftFn constant_diffusion(const Tensor& sqrt_c);

struct Forecast {
  Tensor paths;         // [T, N, D]
  Tensor mean;          // [T, D]
  Tensor lower, upper;  // [T, D] quantile bands
};

// N paths from z0 ([D], or [N, D] for one start per path) over `times`, without autograd.
Forecast forecast(const DiagonalSde& sde, const Tensor& z0, const std::vector<double>& times, int64_t num_paths,
                  const SdeSolveOptions& options, at::Generator gen, double lower_quantile = 0.05,
                  double upper_quantile = 0.95);

}  // namespace amortize::sde
