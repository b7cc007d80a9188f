// Row-major float32 matrix products straight into the BLAS that LibTorch itself calls (found at
// run time), without a LibTorch operation: at::mm costs about ten dispatched operations (views,
// conjugation checks, the output's allocation) around the same sgemm call, a fixed cost per
// product that the VAE's small per-worker batches feel. The arguments are the ones at::mm passes
// for the same layouts, so the results are the same bits.
#pragma once
#include <cstdint>

namespace amortize::vae::blas {

// True when the process has a Fortran sgemm_ (LibTorch's BLAS); the callers fall back to ATen
// otherwise.
bool available();

// c (m x n, row-major, contiguous) = op(a) op(b) + beta c, with op(a) of m x k: a is stored m x k,
// or k x m when `a_transposed`; op(b) of k x n: b is stored k x n, or n x k when `b_transposed`.
// beta 0 overwrites c (BLAS zeroes it first); beta 1 accumulates into it.
void gemm(const float* a, bool a_transposed, const float* b, bool b_transposed, float* c, int64_t m, int64_t n,
          int64_t k, float beta);
// The same with the row strides (elements) of a, b and c given: blocks of larger matrices.
void gemm(const float* a, bool a_transposed, int64_t lda, const float* b, bool b_transposed, int64_t ldb, float* c,
          int64_t ldc, int64_t m, int64_t n, int64_t k, float beta);

}  // namespace amortize::vae::blas
