// Private helpers shared by the continuous distributions: argument broadcasting that names the
// distribution, log-density pieces that stay finite for huge arguments (heavy tails, large
// degrees of freedom), masking outside a support, and the smallest normal number of a dtype.
#pragma once
#include "amortize/dist/tensor_args.hpp"

#include <string>
#include <vector>

namespace amortize::dist::continuous_detail {

// broadcast_args, with the distribution's name in the error for shapes that do not broadcast.
std::vector<Tensor> broadcast_named(const std::string& dist, const std::vector<TensorArg>& args);

// log(1 + (diff / scale)^2), exact for tiny ratios and finite where the ratio or its square
// overflows (the large branch works with log|diff| - log(scale)).
Tensor log1p_square_ratio(const Tensor& diff, const Tensor& scale);

// lgamma(x + 1/2) - lgamma(x) - log(x) / 2, without the cancellation of the two lgammas at
// large x (an asymptotic series there, accurate to double precision for x > 20).
Tensor log_gamma_half_ratio(const Tensor& x);

// (x + 1/2) * (digamma(x + 1/2) - digamma(x)), likewise stable at large x.
Tensor weighted_digamma_half_difference(const Tensor& x);

// log_density where keep is true, -inf elsewhere (values outside the support).
Tensor minus_inf_unless(const Tensor& keep, const Tensor& log_density);

// Smallest positive normal number of a floating dtype.
double smallest_normal(at::ScalarType dtype);

// Machine epsilon of a floating dtype.
double machine_epsilon(at::ScalarType dtype);

}  // namespace amortize::dist::continuous_detail
