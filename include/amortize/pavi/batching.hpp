// Batches of plate elements for stochastic PAVI training.
// sample_without_replacement: k distinct indices out of n, uniform over subsets, in O(k) time
// and memory (Floyd's algorithm), so that drawing a batch of 1000 groups out of 5e7 does not
// build a permutation of 5e7 indices every step.
// EpochBatches: random reshuffling. The plate is swept in a random order, a fresh one every
// epoch, cut into consecutive batches. Each batch is still a uniform random subset marginally
// (so the size / batch scaling keeps every step's estimate unbiased), but over an epoch every
// element is visited exactly once: the subsampling noise of a sum over the plate cancels over
// the epoch instead of averaging out as 1 / sqrt(steps), which is what the global sites of a
// large plate need (their posterior sd is far below one batch's sampling noise).
#pragma once
#include "amortize/dist/tensor_args.hpp"

#include <ATen/core/Generator.h>

#include <map>
#include <string>

namespace amortize::pavi {

// k distinct indices in [0, n), int64, in random order; k == n gives arange(n).
Tensor sample_without_replacement(int64_t n, int64_t k, at::Generator& generator);

class EpochBatches {
 public:
  explicit EpochBatches(int64_t size);
  // The next `batch` indices (int64, distinct) of the current epoch's order. When fewer than
  // `batch` remain, the rest of the epoch is skipped and a new order drawn (a uniformly random
  // set of size % batch elements sits out that epoch). batch == size gives arange(size).
  Tensor next(int64_t batch, at::Generator& generator);
  int64_t size() const { return size_; }
  int64_t epochs() const { return epochs_; }
  // The position in the sweep (order, cursor, epochs), for checkpoints.
  std::map<std::string, Tensor> state() const;
  void load_state(const std::map<std::string, Tensor>& state);

 private:
  int64_t size_;
  Tensor order_;  // int64 [size]; undefined before the first batch
  int64_t cursor_ = 0;
  int64_t epochs_ = 0;
};

}  // namespace amortize::pavi
