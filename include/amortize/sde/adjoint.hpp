// The neural ODE baseline trained by the adjoint method: dz/dt = f(z, t) solved forwards by
// dopri5 without storing a graph; on backward, the adjoint state a = dL/dz and the parameter
// gradient are solved backwards in time together with z,
//   da/dt = -a^T df/dz,  dg/dt = -a^T df/dtheta,
// with vector-Jacobian products from torch::autograd::grad, jumping by dL/dz(t_i) at each
// output time. The output is an ordinary autograd tensor: calling backward on a loss of it
// fills the gradients of z0 and of the drift's parameters.
#pragma once
#include "amortize/sde/dopri5.hpp"
#include "amortize/sde/residual.hpp"

#include <vector>

namespace amortize::sde {

struct AdjointOptions {
  Dopri5Options forward;   // the forward solve
  Dopri5Options backward;  // the adjoint solve (its error control covers z, a and the gradients)
  NfeCounter* forward_nfe = nullptr;   // drift evaluations of the forward solve, one per state
  NfeCounter* backward_nfe = nullptr;  // drift evaluations of the adjoint solve, one per state

  // Both solves at rtol = atol = tol, counting on the given counters.
  static AdjointOptions with_tolerance(double tol, NfeCounter* forward_nfe = nullptr, NfeCounter* backward_nfe = nullptr) {
    AdjointOptions o;
    o.forward.rtol = o.forward.atol = o.backward.rtol = o.backward.atol = tol;
    o.forward_nfe = forward_nfe;
    o.backward_nfe = backward_nfe;
    return o;
  }
};

// z at every output time, [T, z0's shape] (z0 is [N, D] or [D]); `params` are the drift's
// parameters that should receive gradients.
Tensor odeint_adjoint(const DriftFn& drift, const std::vector<Tensor>& params, const Tensor& z0,
                      const std::vector<double>& times, const AdjointOptions& options);

// The same solve with autograd through dopri5's arithmetic (memory grows with the steps).
Tensor odeint_backprop(const DriftFn& drift, const Tensor& z0, const std::vector<double>& times,
                       const Dopri5Options& options, NfeCounter* nfe = nullptr);

}  // namespace amortize::sde
