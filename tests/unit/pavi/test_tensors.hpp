// Seeded generators, double options and parameter perturbation shared by the PAVI unit tests.
#pragma once
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/module.h>

namespace pavi_tests {

inline at::Generator gen(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }
inline at::TensorOptions f64() { return at::TensorOptions().dtype(at::kDouble); }

// Perturbs every parameter so that zero-initialised output layers do not hide bugs.
inline void perturb(torch::nn::Module& m, uint64_t seed) {
  auto g = gen(seed);
  torch::NoGradGuard no_grad;
  for (auto& p : m.parameters()) p.add_(at::randn(p.sizes(), g, p.options()) * 0.3);
}

}  // namespace pavi_tests
