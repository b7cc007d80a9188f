// Sums the log-densities of many trace sites per Monte-Carlo particle in one autograd node, for
// the distributions whose log-density and derivatives have a closed form here: Normal,
// HalfCauchy, MultivariateNormal (by forward substitution), a Delta at its own value (the
// sites automatic guides emit), and Independent wrappers of these. A small model's ELBO then costs one pass over raw memory forward and one
// backward node, instead of a handful of LibTorch operations (and autograd nodes) per site,
// which is what a step of a small model spends its time on. Sites it cannot take (other
// distributions, tensors off the CPU, mixed dtypes, large sites that LibTorch's vectorised and
// threaded kernels serve better) are left to the caller's generic path. First-order gradients
// only: a backward pass that builds a graph (create_graph) throws.
#pragma once
#include "amortize/dist/distribution.hpp"

#include <memory>
#include <vector>

namespace amortize::infer {

class FusedLogDensitySum {
 public:
  // Sites larger than this many elements go to the generic path.
  static constexpr int64_t kMaxElements = int64_t{1} << 14;

  // `particles` K, and the particle dimension (negative, counted from the right of the batch
  // shape of a log-density, as Elbo keeps it).
  FusedLogDensitySum(int64_t particles, int64_t particle_dim);

  // Adds weight * log d(value), reduced per particle exactly as Elbo::per_particle reduces
  // log_prob (summed over everything but the particle dimension; a term without that dimension
  // counts for every particle). Returns false, adding nothing, when the site is not supported.
  bool add(const dist::Distribution& d, const Tensor& value, double weight);

  // Shape [K]: the sum of all added terms, differentiable with respect to every tensor they
  // read (values and distribution parameters). Undefined when nothing was added.
  Tensor sum() const;
  bool empty() const;

  struct Plan;

 private:
  std::shared_ptr<Plan> plan_;
  std::vector<Tensor> inputs_;
  int64_t particle_dim_;
};

}  // namespace amortize::infer
