// Private helpers shared by Gamma, Beta and Dirichlet: argument broadcasting that names the
// distribution, log-powers that are finite (and have finite gradients) where the exponent is
// zero and the base is at the edge of the support, and the smallest normal number of a dtype.
#pragma once
#include "amortize/dist/tensor_args.hpp"

#include <string>
#include <vector>

namespace amortize::dist::gamma_family {

// broadcast_args, with the distribution's name in the error for shapes that do not broadcast.
std::vector<Tensor> broadcast_named(const std::string& dist, const std::vector<TensorArg>& args);

// coef * log(x), taken as 0 where coef == 0 (also at x == 0), with zero gradients there.
Tensor xlogx_power(const Tensor& coef, const Tensor& x);
// coef * log1p(-x), taken as 0 where coef == 0 (also at x == 1), with zero gradients there.
Tensor xlog1mx_power(const Tensor& coef, const Tensor& x);

// log B(a, b) = lgamma(a) + lgamma(b) - lgamma(a + b).
Tensor log_beta(const Tensor& a, const Tensor& b);

// Smallest positive normal number of a floating dtype (the floor for sampled gamma variates).
double smallest_normal(at::ScalarType dtype);

}  // namespace amortize::dist::gamma_family
