// Adam with torch.optim.Adam's arithmetic in one pass over each parameter (moments, bias
// correction and update fused; float32 contiguous CPU parameters, any others through ATen
// ops). The VAE's ~0.69M parameters otherwise take six passes and a temporary per step.
#pragma once
#include "amortize/dist/tensor_args.hpp"

#include <vector>

namespace amortize::vae {

struct FusedAdamOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
};

class FusedAdam {
 public:
  // `params` are leaf tensors requiring grad; throws std::invalid_argument for a bad learning
  // rate or betas.
  FusedAdam(std::vector<Tensor> params, double learning_rate, FusedAdamOptions options = {});

  // One update from the parameters' gradients (parameters without one are skipped and keep
  // their step count), then drops the gradients (the next backward writes fresh ones).
  // `threads` > 1 splits every float32 parameter's elements over that many threads (same
  // result: the update is elementwise).
  void step(int threads = 1);
  const std::vector<Tensor>& parameters() const { return params_; }

 private:
  std::vector<Tensor> params_, m_, v_;
  std::vector<int64_t> steps_;
  double learning_rate_;
  FusedAdamOptions options_;
};

}  // namespace amortize::vae
