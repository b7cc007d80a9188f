#include "blas_products.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

namespace amortize::vae::blas {
namespace {
using SgemmFn = void (*)(const char*, const char*, const int*, const int*, const int*, const float*, const float*,
                         const int*, const float*, const int*, const float*, float*, const int*);

SgemmFn sgemm() {
  static const SgemmFn fn = reinterpret_cast<SgemmFn>(dlsym(RTLD_DEFAULT, "sgemm_"));
  return fn;
}

int as_int(int64_t v) {
  if (v < 0 || v > std::numeric_limits<int>::max()) {
    throw std::invalid_argument("blas::gemm: dimension " + std::to_string(v) + " does not fit the BLAS's int");
  }
  return static_cast<int>(v);
}
}  // namespace

bool available() { return sgemm() != nullptr; }

void gemm(const float* a, bool a_transposed, const float* b, bool b_transposed, float* c, int64_t m, int64_t n,
          int64_t k, float beta) {
  gemm(a, a_transposed, a_transposed ? m : k, b, b_transposed, b_transposed ? k : n, c, n, m, n, k, beta);
}

void gemm(const float* a, bool a_transposed, int64_t lda, const float* b, bool b_transposed, int64_t ldb, float* c,
          int64_t ldc, int64_t m, int64_t n, int64_t k, float beta) {
  if (!available()) throw std::logic_error("blas::gemm: no sgemm_ in this process");
  // Column-major BLAS sees the row-major c as c^T (n x m) = op(b)^T op(a)^T, as ATen's addmm does.
  const int mi = as_int(m), ni = as_int(n), ki = as_int(k);
  const int ldai = std::max(as_int(lda), 1), ldbi = std::max(as_int(ldb), 1), ldci = std::max(as_int(ldc), 1);
  const char tb = b_transposed ? 'T' : 'N', ta = a_transposed ? 'T' : 'N';
  const float alpha = 1.0f;
  sgemm()(&tb, &ta, &ni, &mi, &ki, &alpha, b, &ldbi, a, &ldai, &beta, c, &ldci);
}

}  // namespace amortize::vae::blas
