// Compiled with -fno-math-errno (src/CMakeLists.txt): GCC vectorises sqrt only then, and a
// pragma cannot turn errno off. Each entry point is cloned for x86-64-v4 (AVX-512), v3
// (AVX2+FMA) and baseline x86-64; the loader picks the best the CPU supports.
#include "amortize/infer/optim/fused_adam.hpp"

#include <cmath>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define AMORTIZE_OPTIM_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define AMORTIZE_OPTIM_SIMD_CLONES
#endif
// The loop must inline into each clone (GCC only inlines across target options when forced).
#define AMORTIZE_OPTIM_INLINE inline __attribute__((always_inline))

namespace amortize::infer::optim {
namespace {

// kGrads: 1 or 2 gradient arrays, or 0 for any number (summed element by element, not vectorised).
// kLowWeight: lerp's branch for weight 1 - beta1 below 0.5 (ATen switches formulas there).
// kZero: the gradients are set to zero once read.
template <typename T, int kGrads, bool kDecay, bool kLowWeight, bool kZero>
AMORTIZE_OPTIM_INLINE void adam_loop(const AdamArrays<T>& a, int64_t begin, int64_t end, const AdamCoefficients& c) {
  T* __restrict p = a.param;
  T* __restrict m = a.exp_avg;
  T* __restrict v = a.exp_avg_sq;
  // Gradients that the pass zeroes are read and written through the writable pointers alone:
  // the loop vectorises only when no other pointer may alias them (two gradients: 3.4x faster).
  constexpr bool kFixed = kGrads == 1 || kGrads == 2;
  const T* const* grads = kZero ? a.grads_to_zero : a.grads;
  T* __restrict z0 = kFixed && kZero ? a.grads_to_zero[0] : nullptr;
  T* __restrict z1 = kGrads == 2 && kZero ? a.grads_to_zero[1] : nullptr;
  const T* __restrict g0 = kFixed && !kZero ? grads[0] : nullptr;
  const T* __restrict g1 = kGrads == 2 && !kZero ? grads[1] : nullptr;
  const T w1 = static_cast<T>(1.0 - c.beta1), b2 = static_cast<T>(c.beta2), w2 = static_cast<T>(1.0 - c.beta2);
  const T wd = static_cast<T>(c.weight_decay), eps = static_cast<T>(c.eps), step = static_cast<T>(c.step_size);
  for (int64_t i = begin; i < end; ++i) {
    T g;
    if constexpr (kFixed && kZero) {
      g = z0[i];
      z0[i] = T(0);
      if constexpr (kGrads == 2) {
        g = g + z1[i];
        z1[i] = T(0);
      }
    } else if constexpr (kFixed) {
      g = g0[i];
      if constexpr (kGrads == 2) g = g + g1[i];
    } else {
      g = grads[0][i];
      for (int64_t k = 1; k < a.grad_count; ++k) g = g + grads[k][i];
      if constexpr (kZero) {
        for (int64_t k = 0; k < a.grad_count; ++k) a.grads_to_zero[k][i] = T(0);
      }
    }
    if constexpr (kDecay) g = g + wd * p[i];
    const T mi = kLowWeight ? m[i] + w1 * (g - m[i]) : g - (g - m[i]) * (T(1) - w1);
    const T vi = v[i] * b2 + w2 * g * g;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] + step * mi / (std::sqrt(vi) + eps);
  }
}

template <typename T, int kGrads, bool kZero>
AMORTIZE_OPTIM_INLINE void adam_dispatch(const AdamArrays<T>& a, int64_t begin, int64_t end,
                                         const AdamCoefficients& c) {
  const bool decay = c.weight_decay != 0;
  const bool low = static_cast<T>(1.0 - c.beta1) < T(0.5);
  if (decay) {
    low ? adam_loop<T, kGrads, true, true, kZero>(a, begin, end, c)
        : adam_loop<T, kGrads, true, false, kZero>(a, begin, end, c);
  } else {
    low ? adam_loop<T, kGrads, false, true, kZero>(a, begin, end, c)
        : adam_loop<T, kGrads, false, false, kZero>(a, begin, end, c);
  }
}

template <typename T, int kGrads>
AMORTIZE_OPTIM_INLINE void adam_zero_or_not(const AdamArrays<T>& a, int64_t begin, int64_t end,
                                            const AdamCoefficients& c) {
  a.grads_to_zero ? adam_dispatch<T, kGrads, true>(a, begin, end, c)
                  : adam_dispatch<T, kGrads, false>(a, begin, end, c);
}

template <typename T>
AMORTIZE_OPTIM_INLINE void adam_any(const AdamArrays<T>& a, int64_t begin, int64_t end, const AdamCoefficients& c) {
  if (a.grad_count == 1) {
    adam_zero_or_not<T, 1>(a, begin, end, c);
  } else if (a.grad_count == 2) {
    adam_zero_or_not<T, 2>(a, begin, end, c);
  } else {
    adam_zero_or_not<T, 0>(a, begin, end, c);
  }
}

}  // namespace

AMORTIZE_OPTIM_SIMD_CLONES
void fused_adam(const AdamArrays<float>& arrays, int64_t begin, int64_t end, const AdamCoefficients& c) {
  adam_any(arrays, begin, end, c);
}

AMORTIZE_OPTIM_SIMD_CLONES
void fused_adam(const AdamArrays<double>& arrays, int64_t begin, int64_t end, const AdamCoefficients& c) {
  adam_any(arrays, begin, end, c);
}

}  // namespace amortize::infer::optim
