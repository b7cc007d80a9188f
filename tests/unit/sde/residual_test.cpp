#include "amortize/sde/residual.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace amortize::sde {
namespace {

const auto kF64 = at::TensorOptions().dtype(at::kDouble);

TEST(SdeResidual, GoldenValue) {
  const double t = 0.7;
  auto vec = [](double a, double b) { return at::tensor({a, b}, kF64); };
  MarginalPath path{vec(t + std::sin(t), t * t + std::cos(t)), vec(std::sin(t), std::cos(t)),
                    vec(1 + std::cos(t), 2 * t - std::sin(t)), vec(std::cos(t), -std::sin(t))};
  const auto c = vec(0.5, 2.0);
  const auto eps = vec(0.3, -1.2);
  DriftFn f = [](const Tensor& z, const Tensor& tt) { return at::stack({at::cos(tt), -at::sin(tt)}, -1); };
  const auto value = normed_residual(path, eps, c, f, at::tensor(t, kF64));
  EXPECT_EQ(value.dim(), 0);
  EXPECT_NEAR(value.item<double>(), 6.316316, 5e-7);
}

TEST(SdeResidual, StationaryOrnsteinUhlenbeckPosteriorHasZeroResidual) {
  const auto theta = at::tensor({0.7, 1.3, 3.0}, kF64);
  const auto c = at::tensor({0.5, 2.0, 0.1}, kF64);
  const int64_t r = 4, s = 6;
  const auto zeros = at::zeros({s, 3}, kF64);
  MarginalPath path{zeros, at::log(c / (2 * theta)).expand({s, 3}), zeros, zeros};
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  const auto eps = at::randn({r, s, 3}, gen, kF64);
  DriftFn f = [&](const Tensor& z, const Tensor&) { return -theta * z; };
  const auto t = at::linspace(0, 1, s, kF64);
  const auto res = residual(path, eps, c, f, t);
  ASSERT_EQ(res.sizes(), (at::IntArrayRef{r, s, 3}));
  EXPECT_LT(res.abs().max().item<double>(), 1e-12);
  // A posterior variance off the stationary one leaves a residual.
  path.l = path.l + 0.1;
  EXPECT_GT(normed_residual(path, eps, c, f, t).abs().max().item<double>(), 1e-3);
}

TEST(SdeResidual, BatchedMatchesElementwiseAndCountsOneEvaluationPerState) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  const int64_t r = 3, s = 5, d = 2;
  MarginalPath path{at::randn({s, d}, gen, kF64), at::randn({s, d}, gen, kF64), at::randn({s, d}, gen, kF64),
                    at::randn({s, d}, gen, kF64)};
  const auto c = at::rand({r, 1, d}, gen, kF64) + 0.5;
  const auto eps = at::randn({r, s, d}, gen, kF64);
  const auto t = at::rand({r, s}, gen, kF64);
  NfeCounter nfe;
  DriftFn f = counted([](const Tensor& z, const Tensor& tt) { return at::sin(z) * tt.unsqueeze(-1) - z.square(); }, nfe);
  const auto batched = normed_residual(path, eps, c, f, t);
  EXPECT_EQ(nfe.count(), r * s);
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < s; ++j) {
      MarginalPath one{path.m[j], path.l[j], path.dm[j], path.dl[j]};
      const auto v = normed_residual(one, eps[i][j], c[i][0], f, t[i][j]);
      EXPECT_NEAR(v.item<double>(), batched[i][j].item<double>(), 1e-12);
    }
  EXPECT_EQ(nfe.count(), 2 * r * s);
}

TEST(SdeResidual, RejectsMismatchedNoise) {
  const auto x = at::zeros({4, 2}, kF64);
  MarginalPath path{x, x, x, x};
  DriftFn f = [](const Tensor& z, const Tensor&) { return z; };
  EXPECT_THROW(residual(path, at::zeros({4, 3}, kF64), at::ones({2}, kF64), f, at::zeros({4}, kF64)),
               std::invalid_argument);
}

}  // namespace
}  // namespace amortize::sde
