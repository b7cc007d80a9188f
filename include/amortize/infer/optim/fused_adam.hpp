// Adam's update in one pass over flat arrays: both moments, bias correction and the parameter
// step fused, with the arithmetic of torch.optim.Adam's ATen operations (lerp_, mul_, addcmul_,
// sqrt, add_, addcdiv_), in float or double. optim::Adam and ClippedAdam run it on dense CPU
// parameters; data-parallel callers run it on disjoint element ranges from their own threads,
// with the gradients of several workers summed in the same pass (the numbers do not depend on
// how the elements are split). Vectorised for AVX-512, AVX2 and baseline x86-64, picked at load time.
#pragma once
#include <cstdint>

namespace amortize::infer::optim {

struct AdamCoefficients {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double weight_decay = 0.0;  // g + weight_decay * p is the gradient used
  double eps = 1e-8;          // added to sqrt(v)
  double step_size = 0.0;     // p += step_size * m / (sqrt(v) + eps): negative to descend
};

// One parameter's arrays; the gradient is grads[0] + grads[1] + ... (summed in that order,
// grad_count >= 1). Nothing may alias. With `grads_to_zero` (the same arrays as `grads`, writable)
// the pass leaves the gradients zero: buffers that the next step's products add into.
template <typename T>
struct AdamArrays {
  T* param;
  T* exp_avg;
  T* exp_avg_sq;
  const T* const* grads;
  int64_t grad_count;
  T* const* grads_to_zero = nullptr;
};

// Updates elements [begin, end) of the arrays in place.
void fused_adam(const AdamArrays<float>& arrays, int64_t begin, int64_t end, const AdamCoefficients& c);
void fused_adam(const AdamArrays<double>& arrays, int64_t begin, int64_t end, const AdamCoefficients& c);

}  // namespace amortize::infer::optim
