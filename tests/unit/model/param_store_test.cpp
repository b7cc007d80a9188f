#include "amortize/dist/transforms/exp_transform.hpp"
#include "amortize/dist/transforms/identity_transform.hpp"
#include "amortize/dist/transforms/lower_cholesky_transform.hpp"
#include "amortize/model/param_store.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <limits>

using namespace amortize;

namespace {
// constrain() against the transform's own forward: same values, same first derivatives.
::testing::AssertionResult constrain_matches_forward(const dist::Transform& t, at::ScalarType dtype) {
  // -800 underflows exp in both dtypes: the clamp holds it at the smallest normal, gradient 0.
  Tensor u = at::tensor({-800.0, -3.0, 0.0, 0.5, 4.0}, at::TensorOptions().dtype(dtype)).set_requires_grad(true);
  Tensor fused = model::constrain(t, u);
  Tensor generic = t.forward(u);
  // std::exp and LibTorch's vectorised exp may differ in the last bit.
  const double tol = dtype == at::kDouble ? 1e-15 : 1e-6;
  if (!at::allclose(fused, generic, tol, 0)) {
    return ::testing::AssertionFailure() << "values differ: " << fused << " vs " << generic;
  }
  const Tensor w = at::arange(1, 6, u.options());
  const Tensor gf = torch::autograd::grad({(fused * w).sum()}, {u})[0];
  const Tensor gg = torch::autograd::grad({(generic * w).sum()}, {u})[0];
  if (!at::allclose(gf, gg, 10 * tol, 0)) return ::testing::AssertionFailure() << "gradients differ: " << gf << " vs " << gg;
  if (gf[0].item<double>() != 0.0) return ::testing::AssertionFailure() << "clamped element has a gradient";
  return ::testing::AssertionSuccess();
}
}  // namespace

TEST(Constrain, ClampedExpMatchesExpTransformInValueAndGradient) {
  dist::ExpTransform exp;
  EXPECT_TRUE(constrain_matches_forward(exp, at::kDouble));
  EXPECT_TRUE(constrain_matches_forward(exp, at::kFloat));
  Tensor u = at::tensor({-800.0}, at::kDouble);
  EXPECT_EQ(model::constrain(exp, u).item<double>(), std::numeric_limits<double>::min());
}

TEST(Constrain, OtherTransformsAreTheirForward) {
  dist::IdentityTransform identity;
  Tensor u = at::zeros({3}, at::kDouble);
  EXPECT_TRUE(model::constrain(identity, u).is_same(u));
}

TEST(Constrain, ParamStoreReadsPositiveParametersThroughIt) {
  model::ParamStore store;
  Tensor value = store.get_or_create("s", at::tensor({0.5, 2.0}, at::kDouble), dist::constraints::positive());
  EXPECT_TRUE(at::allclose(value, at::tensor({0.5, 2.0}, at::kDouble)));
  value.sum().backward();
  // d exp(u) / du = exp(u) = the value itself.
  EXPECT_TRUE(at::allclose(store.entry("s").unconstrained.grad(), at::tensor({0.5, 2.0}, at::kDouble)));
}

TEST(Constrain, LowerCholeskyMatchesTheTransformWithBatchDims) {
  dist::LowerCholeskyTransform transform;
  // Two batches of K = 3 (6 entries each); one log-diagonal entry underflows to the clamp.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(4);
  Tensor u = at::randn({2, 6}, gen, at::TensorOptions().dtype(at::kDouble));
  u.index_put_({1, 4}, -800.0);
  u.requires_grad_(true);
  Tensor fused = model::constrain(transform, u);
  Tensor generic = transform.forward(u);
  ASSERT_EQ(fused.sizes(), generic.sizes());
  // std::exp and LibTorch's vectorised exp may differ in the last bit.
  EXPECT_TRUE(at::allclose(fused, generic, 1e-15, 0)) << fused << generic;
  const Tensor w = at::randn({2, 3, 3}, gen, u.options());
  const Tensor gf = torch::autograd::grad({(fused * w).sum()}, {u}, {}, true, true)[0];
  const Tensor gg = torch::autograd::grad({(generic * w).sum()}, {u}, {}, true)[0];
  EXPECT_TRUE(at::allclose(gf, gg, 1e-12, 1e-12)) << gf << gg;
  EXPECT_EQ(gf[1][4].item<double>(), 0.0);
  // The gradient's own graph (create_graph) goes through the transform's operations.
  const Tensor second = torch::autograd::grad({gf.square().sum()}, {u})[0];
  const Tensor second_generic =
      torch::autograd::grad({torch::autograd::grad({(generic * w).sum()}, {u}, {}, true, true)[0].square().sum()}, {u})[0];
  EXPECT_TRUE(at::allclose(second, second_generic, 1e-12, 1e-12));
}
