// The Dormand-Prince 5(4) Runge-Kutta method with adaptive steps (rtol, atol settable), the
// neural ODE baseline's solver. Steps are clipped to land on every output time; time may run
// forwards or backwards (the adjoint solves backwards). Step-size control uses plain doubles,
// so with autograd on the result is differentiable through the solver's arithmetic (the
// "back-propagate through the solve" gradient the adjoint is checked against).
#pragma once
#include <ATen/ATen.h>

#include <functional>
#include <vector>

namespace amortize::sde {

using Tensor = at::Tensor;

// dy/dt = f(t, y) for y of any shape.
using OdeFn = std::function<Tensor(double t, const Tensor& y)>;

struct Dopri5Options {
  double rtol = 1e-6, atol = 1e-6;
  double first_step = 0;      // 0: chosen automatically (Hairer, Norsett & Wanner II.4)
  int64_t max_steps = 1000000;
};

struct OdeSolveStats {
  int64_t accepted_steps = 0, rejected_steps = 0, function_evaluations = 0;
};

// y at each output time: [T, y0's shape]; times strictly monotone, times[0] the start.
Tensor dopri5(const OdeFn& f, const Tensor& y0, const std::vector<double>& times, const Dopri5Options& options,
              OdeSolveStats* stats = nullptr);

}  // namespace amortize::sde
