#include "amortize/sde/deep_kernel.hpp"

#include <gtest/gtest.h>

#include <torch/csrc/autograd/autograd.h>

namespace amortize::sde {
namespace {

const auto kF64 = at::TensorOptions().dtype(at::kDouble);

DeepKernelInterpolant make_kernel(Activation act) {
  torch::manual_seed(7);
  DeepKernelOptions o;
  o.warp_hidden = {6, 5};
  o.warp_activation = act;
  o.time_scale = 1.0;
  o.lengthscale = 0.03;
  o.signal_scale = 1.5;
  o.jitter = 1e-8;
  return DeepKernelInterpolant(o, kF64);
}

TEST(MlpTangent, MatchesFiniteDifferences) {
  for (auto act : {Activation::kTanh, Activation::kSoftplus, Activation::kSilu, Activation::kRelu}) {
    torch::manual_seed(3);
    Mlp net(3, std::vector<int64_t>{7, 4}, 2, act, kF64);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
    const auto x = at::randn({5, 3}, gen, kF64), dx = at::randn({5, 3}, gen, kF64);
    at::NoGradGuard ng;
    const double h = 1e-6;
    const auto fd = (net->forward(x + h * dx) - net->forward(x - h * dx)) / (2 * h);
    auto [y, dy] = net->forward_with_tangent(x, dx);
    EXPECT_TRUE(at::allclose(y, net->forward(x), 1e-12, 1e-12));
    EXPECT_LT((dy - fd).abs().max().item<double>(), 1e-7) << "activation " << static_cast<int>(act);
  }
}

TEST(DeepKernelInterpolant, DerivativesMatchFiniteDifferences) {
  for (auto act : {Activation::kTanh, Activation::kSilu}) {
    auto kernel = make_kernel(act);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(2);
    const auto t_nodes = at::cumsum(at::rand({20}, gen, kF64) * 0.1 + 0.05, 0);
    const auto values = at::randn({20, 4}, gen, kF64);
    at::NoGradGuard ng;
    const auto fit = kernel->fit(t_nodes, values);
    const double t0 = t_nodes[0].item<double>(), t1 = t_nodes[-1].item<double>();
    const auto tq = at::linspace(t0 - 0.05, t1 + 0.05, 37, kF64);
    auto [v, dv] = kernel->evaluate(fit, tq);
    const double h = 1e-6;
    const auto fd = (kernel->evaluate(fit, tq + h).first - kernel->evaluate(fit, tq - h).first) / (2 * h);
    EXPECT_LT((dv - fd).abs().max().item<double>(), 1e-6 * (1 + fd.abs().max().item<double>()));
    EXPECT_GT(dv.abs().max().item<double>(), 1e-2);
    EXPECT_LT((kernel->evaluate(fit, t_nodes).first - fit.node_values).abs().max().item<double>(), 1e-6);
    // With a tiny jitter the interpolant passes through the nodes.
    EXPECT_LT((kernel->evaluate(fit, t_nodes).first - values).abs().max().item<double>(), 1e-4);
  }
}

TEST(SpdSolve, GradientsMatchAutogradThroughCholesky) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(6);
  const auto a = at::randn({7, 7}, gen, kF64);
  const auto k = (a.matmul(a.t()) + 7 * at::eye(7, kF64)).requires_grad_(true);
  const auto y = at::randn({7, 3}, gen, kF64).requires_grad_(true);
  const auto w = at::randn({7, 3}, gen, kF64);
  const auto mine = torch::autograd::grad({(spd_solve(k, y) * w).sum()}, {k, y});
  const auto ref = torch::autograd::grad({(at::cholesky_solve(y, at::linalg_cholesky(k)) * w).sum()}, {k, y});
  // Cholesky's backward symmetrises dK; both give the same directional derivative along any
  // symmetric perturbation, and the same dY.
  EXPECT_TRUE(at::allclose(mine[1], ref[1], 1e-10, 1e-12));
  EXPECT_TRUE(at::allclose(0.5 * (mine[0] + mine[0].t()), 0.5 * (ref[0] + ref[0].t()), 1e-10, 1e-12));
  EXPECT_TRUE(at::allclose(spd_solve(k, y), at::linalg_solve(k, y), 1e-10, 1e-12));
}

TEST(DeepKernelInterpolant, GradientsReachTheKernelParametersAndTheValues) {
  auto kernel = make_kernel(Activation::kTanh);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(4);
  const auto t_nodes = at::linspace(0, 2, 12, kF64);
  const auto values = at::randn({12, 2}, gen, kF64).requires_grad_(true);
  const auto fit = kernel->fit(t_nodes, values);
  auto [v, dv] = kernel->evaluate(fit, at::linspace(0.1, 1.9, 7, kF64));
  auto params = kernel->parameters();
  params.push_back(values);
  auto grads = torch::autograd::grad({(v.square().sum() + dv.sin().sum())}, params);
  for (size_t i = 0; i < grads.size(); ++i) {
    ASSERT_TRUE(grads[i].defined());
    EXPECT_TRUE(grads[i].isfinite().all().item<bool>());
  }
  EXPECT_GT(grads.back().abs().sum().item<double>(), 0);
}

// fit()'s fused Gram-and-solve node (in-place Gram, O(B^2 P) backward) against autograd through
// the explicit kernel matrix and spd_solve, for every parameter and the values.
TEST(DeepKernelInterpolant, FusedFitGradientsMatchTheExplicitGraph) {
  DeepKernelOptions o;
  o.warp_hidden = {6, 5};
  o.time_scale = 1.0;
  o.lengthscale = 0.3;
  o.signal_scale = 1.5;
  o.jitter = 1e-2;
  torch::manual_seed(3);
  DeepKernelInterpolant kernel(o, kF64);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  const auto t_nodes = at::linspace(0, 2, 15, kF64);
  const auto values = at::randn({15, 3}, gen, kF64).requires_grad_(true);
  const auto w = at::randn({15, 3}, gen, kF64);
  auto params = kernel->parameters();
  params.push_back(values);
  const auto fused = kernel->fit(t_nodes, values).alpha;
  const auto gram = kernel->kernel(t_nodes, t_nodes, 0.0) + kernel->jitter() * at::eye(15, kF64);
  const auto explicit_alpha = spd_solve(gram, values);
  EXPECT_TRUE(at::allclose(fused, explicit_alpha, 1e-9, 1e-11));
  const auto g1 = torch::autograd::grad({(fused * w).sum()}, params);
  const auto g2 = torch::autograd::grad({(explicit_alpha * w).sum()}, params);
  ASSERT_EQ(g1.size(), g2.size());
  for (size_t i = 0; i < g1.size(); ++i) {
    ASSERT_TRUE(g1[i].defined() && g2[i].defined()) << "parameter " << i;
    EXPECT_TRUE(at::allclose(g1[i], g2[i], 1e-8, 1e-10)) << "parameter " << i << "\n" << g1[i] << "\n" << g2[i];
  }
}

}  // namespace
}  // namespace amortize::sde
