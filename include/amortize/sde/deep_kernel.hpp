// The deep-kernel interpolant of ARCTA's amortized posterior. Over a contiguous chunk of B
// observation times, the encoder's outputs (mu_i, l_i) are interpolated by kernel regression
// (the mean of a GP with a small jitter):
//   k(t, t') = s exp(-|g(u) - g(u')|^2 / len),  u = (t - t_first) / time_scale - 1,
//   g(u) = u + MLP(u),  value(t) = k(t, T) (K + jitter I)^-1 Y.
// The time derivative of the interpolant is analytic (chain rule through g, with the MLP's
// tangent), so m, l, dm/dt and dl/dt come out of one matrix product.
#pragma once
#include "amortize/sde/mlp.hpp"
#include "amortize/sde/scalar_constant.hpp"

#include <torch/nn/module.h>

namespace amortize::sde {

// K^-1 Y for symmetric positive definite K [B, B] and Y [B, P], differentiable in both with an
// O(B^2 P) backward (one Cholesky factorisation, reused).
Tensor spd_solve(const Tensor& k, const Tensor& y);

struct DeepKernelOptions {
  std::vector<int64_t> warp_hidden{32, 32};
  Activation warp_activation = Activation::kTanh;
  double time_scale = 1.0;     // half the typical chunk span: maps a chunk to u in [-1, 1]
  double lengthscale = 1e-2;   // initial len
  double signal_scale = 1.0;   // initial s
  double jitter = 1e-5;        // initial jitter (learned, kept positive)
};

// A chunk's interpolation weights: the nodes' time origin and warped positions, and
// alpha = (K + jitter I)^-1 Y. Holds the autograd graph back to the encoder and the kernel.
struct InterpolantFit {
  double t_first = 0.0;
  Tensor warped_nodes;  // [B]
  Tensor alpha;         // [B, P]
  Tensor node_values;   // the interpolant at the nodes, K alpha = Y - jitter alpha (no kernel matrix needed)
};

class DeepKernelInterpolantImpl : public torch::nn::Module {
 public:
  explicit DeepKernelInterpolantImpl(const DeepKernelOptions& options,
                                     const at::TensorOptions& tensor_options = at::TensorOptions());

  // g(u) and dg/du for u of any shape.
  std::pair<Tensor, Tensor> warp(const Tensor& u);
  // Kernel matrix between two sets of times of one chunk starting at t_first: [n, m].
  Tensor kernel(const Tensor& t1, const Tensor& t2, double t_first);

  // t_nodes [B] increasing, values [B, P].
  InterpolantFit fit(const Tensor& t_nodes, const Tensor& values);
  // value(t) and d value / dt at query times [Q]: both [Q, P].
  std::pair<Tensor, Tensor> evaluate(const InterpolantFit& fit, const Tensor& t_query);

  Tensor lengthscale() const { return log_lengthscale_.exp(); }
  Tensor signal_scale() const { return log_signal_scale_.exp(); }
  Tensor jitter() const { return log_jitter_.exp(); }
  double time_scale() const { return time_scale_; }

 private:
  Tensor to_u(const Tensor& t, double t_first) const;
  double time_scale_;
  ScalarConstant neg_two_over_time_scale_;
  Mlp warp_net_{nullptr};
  Tensor log_lengthscale_, log_signal_scale_, log_jitter_;
};
TORCH_MODULE(DeepKernelInterpolant);

}  // namespace amortize::sde
