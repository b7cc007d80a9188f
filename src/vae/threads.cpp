#include "amortize/vae/threads.hpp"

#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <stdexcept>
#include <string>

namespace amortize::vae {

ThreadSettings set_threads(int threads) {
  if (threads < 1) throw std::invalid_argument("threads must be at least 1, got " + std::to_string(threads));
  at::set_num_threads(1);
  ThreadSettings out;
  out.openmp = at::get_num_threads();
  using SetFn = void (*)(int);
  using GetFn = int (*)();
  auto set = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  auto get = reinterpret_cast<GetFn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  if (set) set(threads);
  if (get) out.openblas = get();
  return out;
}

}  // namespace amortize::vae
