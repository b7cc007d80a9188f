// The baselines' batching and the latent SDE trained through an Euler-Maruyama solve: windows
// are contiguous slices drawn without replacement, the loss's gradient through the solve
// matches finite differences on the same Brownian path, drift evaluations are counted, and a
// non-finite error estimate makes dopri5 shrink its step instead of failing.
#include "amortize/sde/baselines.hpp"
#include "amortize/sde/dopri5.hpp"

#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <set>

namespace amortize::sde {
namespace {

const auto kF64 = at::TensorOptions().dtype(at::kDouble);

TimeSeries ramp(int64_t n) {
  const Tensor t = at::arange(n, kF64) * 0.1;
  return {t, at::stack({t, -t}, 1)};
}

TEST(WindowBatcher, DrawsContiguousWindowsWithoutReplacement) {
  WindowBatcher batcher(ramp(12), 4, 3, 1);
  ASSERT_EQ(batcher.num_windows(), 9);
  std::multiset<double> starts;
  for (int b = 0; b < 3; ++b) {  // one epoch: 9 windows
    const auto batch = batcher.next();
    ASSERT_EQ(batch.x.sizes(), (std::vector<int64_t>{4, 3, 2}));
    ASSERT_EQ(batch.times.size(), 4u);
    EXPECT_NEAR(batch.times[3], 0.3, 1e-12);
    EXPECT_TRUE(at::equal(batch.x[0], batch.x0));
    for (int64_t j = 0; j < 3; ++j) {
      // x1 = t: each window runs t0, t0 + 0.1, ... from its start.
      const Tensor col = batch.x.select(1, j).select(1, 0);
      EXPECT_TRUE(at::allclose(col - col[0], at::arange(4, kF64) * 0.1));
      starts.insert(std::round(col[0].item<double>() * 10));
    }
  }
  EXPECT_EQ(starts, (std::multiset<double>{0, 1, 2, 3, 4, 5, 6, 7, 8}));
  TimeSeries uneven = ramp(6);
  uneven.t[3] = 0.35;
  EXPECT_THROW(WindowBatcher(uneven, 2, 1, 1), std::invalid_argument);
  EXPECT_THROW(WindowBatcher(ramp(3), 4, 1, 1), std::invalid_argument);
}

TEST(EulerMaruyamaBaseline, GradientThroughTheSolveMatchesFiniteDifferences) {
  WindowBatcher batcher(ramp(20), 5, 4, 2);
  const auto batch = batcher.next();
  const Tensor log_c = at::full({2}, std::log(0.05), kF64).requires_grad_(true);
  EulerMaruyamaBaselineOptions o;
  o.dt = 0.025;
  o.paths = 3;
  o.observation_variance = 0.01;
  const auto loss_at = [&](const Tensor& theta, NfeCounter* nfe) {
    const DriftFn f = [&](const Tensor& z, const Tensor&) { return at::tanh(z * theta[0]) + theta[1]; };
    return euler_maruyama_window_loss(f, log_c, batch, o, at::make_generator<at::CPUGeneratorImpl>(9), nfe);
  };
  const Tensor theta = at::tensor({0.7, -0.2}, kF64).requires_grad_(true);
  NfeCounter nfe;
  const Tensor loss = loss_at(theta, &nfe);
  // 4 intervals of 0.1 at dt 0.025: 16 steps, each on 3 paths x 4 windows.
  EXPECT_EQ(nfe.count(), 16 * 3 * 4);
  const auto grads = torch::autograd::grad({loss}, {theta, log_c});
  const double h = 1e-6;
  for (int64_t i = 0; i < 2; ++i) {
    const Tensor e = at::zeros({2}, kF64).index_put_({i}, h);
    at::NoGradGuard ng;
    const double fd = (loss_at(theta + e, nullptr) - loss_at(theta - e, nullptr)).item<double>() / (2 * h);
    EXPECT_NEAR(grads[0][i].item<double>(), fd, 1e-5 * (1 + std::abs(fd))) << "theta " << i;
  }
  // The diffusion gets a gradient too (the noise enters through sqrt(c)).
  EXPECT_GT(grads[1].abs().sum().item<double>(), 0.0);
}

TEST(Dopri5, ANonFiniteErrorEstimateShrinksTheStep) {
  // dy/dt = -1e6 y in float32 from a first step of 1: the trial step overflows to inf/NaN.
  const OdeFn f = [](double, const Tensor& y) { return -1e6 * y; };
  Dopri5Options o;
  o.first_step = 1.0;
  o.rtol = o.atol = 1e-4;
  const Tensor y = dopri5(f, at::ones({1}, at::kFloat), {0.0, 1e-4}, o);
  EXPECT_NEAR(y[1][0].item<double>(), 0.0, 1e-3);
}

}  // namespace
}  // namespace amortize::sde
