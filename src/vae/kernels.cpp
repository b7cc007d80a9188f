// Written so that GCC vectorises every loop: no library calls, and branches the if-converter
// turns into selects (which needs -fno-trapping-math, set for this file below). exp on (-inf, 0]
// and log1p on [0, 1] are our own, with relative errors of a few float ulps (tested against
// ATen). Each kernel is compiled for the x86-64-v4 (AVX-512), v3 (AVX2+FMA) and baseline levels
// and the loader picks the best the CPU supports (GCC function multi-versioning; "arch=haswell"
// would dispatch on the CPU model, not on its features).
#include "kernels.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

// Selects instead of branches.
#pragma GCC optimize("no-trapping-math")

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define AMORTIZE_VAE_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define AMORTIZE_VAE_SIMD_CLONES
#endif
// The helpers must inline into each clone (GCC only inlines across target options when forced).
#define AMORTIZE_VAE_INLINE inline __attribute__((always_inline))

namespace amortize::vae::kernels {
namespace {

// exp(x) for x <= 0; below -87 it returns exp(-87) ~ 1.6e-38 (callers add it to 1 or scale by it).
AMORTIZE_VAE_INLINE float exp_nonpositive(float x) {
  x = x < -87.0f ? -87.0f : x;
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;  // Cody-Waite split of log 2
  const int32_t k = -static_cast<int32_t>(0.5f - x * kLog2e);       // round(x log2 e), x <= 0
  const float kf = static_cast<float>(k);
  const float r = (x - kf * kLn2Hi) - kf * kLn2Lo;  // |r| <= log(2) / 2
  float p = 1.0f / 5040;                            // Taylor to degree 7: 6e-9
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = (k + 127) * (int32_t{1} << 23);
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// exp(x) for any x, from exp_nonpositive (for x > 0 as 1 / exp(-x): one more rounding); saturates
// at exp(+-87).
AMORTIZE_VAE_INLINE float exp_any(float x) {
  const float e = exp_nonpositive(x < 0 ? x : -x);
  return x <= 0 ? e : 1.0f / e;
}

// log(1 + e) for e in [0, 1]: with t = e / (2 + e) in [0, 1/3], log(1 + e) = 2 atanh(t), a series
// in t^2 <= 1/9 whose remainder after seven terms is below 2e-8 (relative, also for tiny e).
AMORTIZE_VAE_INLINE float log1p_unit(float e) {
  const float t = e / (2.0f + e);
  const float u = t * t;
  float p = 1.0f / 13;
  p = p * u + 1.0f / 11;
  p = p * u + 1.0f / 9;
  p = p * u + 1.0f / 7;
  p = p * u + 1.0f / 5;
  p = p * u + 1.0f / 3;
  p = p * u + 1.0f;
  return 2.0f * t * p;
}

// Sum of n floats with 16 independent partial sums (vectorises without reassociation flags).
AMORTIZE_VAE_INLINE float sum(const float* v, int64_t n) {
  float acc[16] = {};
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    for (int q = 0; q < 16; ++q) acc[q] += v[j + q];
  }
  for (; j < n; ++j) acc[j % 16] += v[j];
  float total = 0.0f;
  for (float a : acc) total += a;
  return total;
}

}  // namespace

AMORTIZE_VAE_SIMD_CLONES
void softplus(const float* a, float* h, float* sig, int64_t n) {
  if (sig) {
    for (int64_t i = 0; i < n; ++i) {
      const float x = a[i];
      const float e = exp_nonpositive(x < 0 ? x : -x);
      const float inv = 1.0f / (1.0f + e);
      h[i] = (x > 0 ? x : 0.0f) + log1p_unit(e);
      sig[i] = x >= 0 ? inv : e * inv;
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const float x = a[i];
      h[i] = (x > 0 ? x : 0.0f) + log1p_unit(exp_nonpositive(x < 0 ? x : -x));
    }
  }
}

AMORTIZE_VAE_SIMD_CLONES
void softplus_bias(const float* a, const float* bias, float* h, float* sig, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* ar = a + r * cols;
    float* hr = h + r * cols;
    if (sig) {
      float* sr = sig + r * cols;
      for (int64_t j = 0; j < cols; ++j) {
        const float x = ar[j] + bias[j];
        const float e = exp_nonpositive(x < 0 ? x : -x);
        const float inv = 1.0f / (1.0f + e);
        hr[j] = (x > 0 ? x : 0.0f) + log1p_unit(e);
        sr[j] = x >= 0 ? inv : e * inv;
      }
    } else {
      for (int64_t j = 0; j < cols; ++j) {
        const float x = ar[j] + bias[j];
        hr[j] = (x > 0 ? x : 0.0f) + log1p_unit(exp_nonpositive(x < 0 ? x : -x));
      }
    }
  }
}

AMORTIZE_VAE_SIMD_CLONES
void softplus_bias_backward(const float* g, const float* sig, float* da, float* dbias, int64_t rows, int64_t cols) {
  for (int64_t j = 0; j < cols; ++j) dbias[j] = 0.0f;
  for (int64_t r = 0; r < rows; ++r) {
    const float* gr = g + r * cols;
    const float* sr = sig + r * cols;
    float* dr = da + r * cols;
    for (int64_t j = 0; j < cols; ++j) {
      const float d = gr[j] * sr[j];
      dr[j] = d;
      dbias[j] += d;
    }
  }
}

AMORTIZE_VAE_SIMD_CLONES
void bernoulli_logits(const float* l, const float* x, float* out, float* d, int64_t begin, int64_t end, int64_t cols,
                      int64_t x_rows, float* term) {
  for (int64_t r = begin; r < end; ++r) {
    const float* lr = l + r * cols;
    const float* xr = x + (r % x_rows) * cols;
    if (d) {
      float* dr = d + r * cols;
      for (int64_t j = 0; j < cols; ++j) {
        const float li = lr[j];
        const float e = exp_nonpositive(li < 0 ? li : -li);
        const float inv = 1.0f / (1.0f + e);
        term[j] = xr[j] * li - (li > 0 ? li : 0.0f) - log1p_unit(e);
        dr[j] = xr[j] - (li >= 0 ? inv : e * inv);
      }
    } else {
      for (int64_t j = 0; j < cols; ++j) {
        const float li = lr[j];
        term[j] = xr[j] * li - (li > 0 ? li : 0.0f) - log1p_unit(exp_nonpositive(li < 0 ? li : -li));
      }
    }
    out[r] = sum(term, cols);
  }
}

AMORTIZE_VAE_SIMD_CLONES
void scale_rows(const float* d, const float* g, float* out, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float gr = g[r];
    const float* dr = d + r * cols;
    float* o = out + r * cols;
    for (int64_t j = 0; j < cols; ++j) o[j] = dr[j] * gr;
  }
}

constexpr float kHalfLog2Pi = 0.918938533204672742f;

AMORTIZE_VAE_SIMD_CLONES
void diagonal_normal_rsample(const float* loc, const float* log_scale, const float* eps, float* scale, float* z,
                             int64_t rows, int64_t base_rows, int64_t cols) {
  const int64_t base = base_rows * cols;
  for (int64_t i = 0; i < base; ++i) scale[i] = exp_any(log_scale[i]);
  for (int64_t r0 = 0; r0 < rows; r0 += base_rows) {
    const int64_t offset = r0 * cols;
    for (int64_t i = 0; i < base; ++i) z[offset + i] = loc[i] + scale[i] * eps[offset + i];
  }
}

AMORTIZE_VAE_SIMD_CLONES
void diagonal_normal_rsample_backward(const float* gz, const float* eps, const float* scale, float* dloc,
                                      float* dlog_scale, int64_t rows, int64_t base_rows, int64_t cols) {
  const int64_t base = base_rows * cols;
  for (int64_t i = 0; i < base; ++i) dloc[i] = dlog_scale[i] = 0.0f;
  for (int64_t r0 = 0; r0 < rows; r0 += base_rows) {
    const int64_t offset = r0 * cols;
    for (int64_t i = 0; i < base; ++i) {
      dloc[i] += gz[offset + i];
      dlog_scale[i] += gz[offset + i] * eps[offset + i];
    }
  }
  for (int64_t i = 0; i < base; ++i) dlog_scale[i] *= scale[i];
}

AMORTIZE_VAE_SIMD_CLONES
void diagonal_normal_log_prob(const float* v, const float* loc, const float* log_scale, float* inv, float* u,
                              float* out, int64_t rows, int64_t base_rows, int64_t cols) {
  const int64_t base = base_rows * cols;
  for (int64_t i = 0; i < base; ++i) inv[i] = exp_any(-log_scale[i]);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t b = (r % base_rows) * cols;
    const float* vr = v + r * cols;
    float* ur = u + r * cols;
    float acc = 0.0f;
    for (int64_t j = 0; j < cols; ++j) {
      const float uj = (vr[j] - loc[b + j]) * inv[b + j];
      ur[j] = uj;
      acc += -0.5f * uj * uj - log_scale[b + j];
    }
    out[r] = acc - static_cast<float>(cols) * kHalfLog2Pi;
  }
}

AMORTIZE_VAE_SIMD_CLONES
void diagonal_normal_log_prob_backward(const float* g, const float* inv, const float* u, float* dv, float* dloc,
                                       float* dlog_scale, int64_t rows, int64_t base_rows, int64_t cols) {
  const int64_t base = base_rows * cols;
  for (int64_t i = 0; i < base; ++i) dloc[i] = dlog_scale[i] = 0.0f;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t b = (r % base_rows) * cols;
    const float gr = g[r];
    const float* ur = u + r * cols;
    float* dvr = dv + r * cols;
    for (int64_t j = 0; j < cols; ++j) {
      const float t = ur[j] * inv[b + j] * gr;
      dvr[j] = -t;
      dloc[b + j] += t;
      dlog_scale[b + j] += (ur[j] * ur[j] - 1.0f) * gr;
    }
  }
}

AMORTIZE_VAE_SIMD_CLONES
void standard_normal_log_prob(const float* v, float* out, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* vr = v + r * cols;
    float acc = 0.0f;
    for (int64_t j = 0; j < cols; ++j) acc += vr[j] * vr[j];
    out[r] = -0.5f * acc - static_cast<float>(cols) * kHalfLog2Pi;
  }
}

void repeat_row(const float* row, float* out, int64_t rows, int64_t cols) {
  const size_t bytes = static_cast<size_t>(cols) * sizeof(float);
  for (int64_t r = 0; r < rows; ++r) std::memcpy(out + r * cols, row, bytes);
}

AMORTIZE_VAE_SIMD_CLONES bool all_finite(const float* p, int64_t n) {
  // Integer tests of the bits vectorise (a float compare chain does not without -ffast-math).
  constexpr uint32_t kExponent = 0x7f800000u;
  uint32_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, p + i, sizeof bits);
    bad |= static_cast<uint32_t>((bits & kExponent) == kExponent);
  }
  return bad == 0;
}

AMORTIZE_VAE_SIMD_CLONES float max_abs(const float* p, int64_t n) {
  // The bits without the sign order as the magnitudes do, NaN above infinity (integer maxima vectorise).
  constexpr uint32_t kMagnitude = 0x7fffffffu, kInfinity = 0x7f800000u;
  uint32_t largest = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, p + i, sizeof bits);
    largest = std::max(largest, bits & kMagnitude);
  }
  if (largest >= kInfinity) return std::numeric_limits<float>::infinity();
  float out;
  std::memcpy(&out, &largest, sizeof out);
  return out;
}

}  // namespace amortize::vae::kernels
