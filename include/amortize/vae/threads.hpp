// Thread pools, set deliberately: LibTorch's OpenMP pool and OpenBLAS's own pool are separate
// and fight when both run 2 threads on 2 cores (a VAE epoch 3-4x slower). The VAE's time is in
// matrix products, so OpenBLAS gets the requested threads and OpenMP one.
#pragma once

namespace amortize::vae {

struct ThreadSettings {
  int openblas = 0;        // threads OpenBLAS reports after the call (0: OpenBLAS not found)
  int openmp = 0;          // at::get_num_threads()
};

// OpenMP (LibTorch) 1 thread, OpenBLAS `threads` (through openblas_set_num_threads, found with
// dlsym, so nothing links OpenBLAS directly). Throws std::invalid_argument for threads < 1.
ThreadSettings set_threads(int threads);


}  // namespace amortize::vae
