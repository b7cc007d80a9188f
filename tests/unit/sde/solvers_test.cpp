#include "amortize/sde/solvers.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "numeric_checks.hpp"

namespace amortize::sde {
namespace {

const auto kF64 = at::TensorOptions().dtype(at::kDouble);

// Least-squares slope of log(err) against log(h).
double log_log_slope(const std::vector<double>& h, const std::vector<double>& err) {
  double mx = 0, my = 0;
  const double n = static_cast<double>(h.size());
  for (size_t i = 0; i < h.size(); ++i) {
    mx += std::log(h[i]) / n;
    my += std::log(err[i]) / n;
  }
  double sxy = 0, sxx = 0;
  for (size_t i = 0; i < h.size(); ++i) {
    sxy += (std::log(h[i]) - mx) * (std::log(err[i]) - my);
    sxx += (std::log(h[i]) - mx) * (std::log(h[i]) - mx);
  }
  return sxy / sxx;
}

// Geometric Brownian motion dX = mu X dt + sigma X dW: X_T = X0 exp((mu - sigma^2/2) T + sigma W_T).
constexpr double kMu = 1.0, kSigma = 0.8;
DiagonalSde gbm() {
  return {[](const Tensor& z, const Tensor&) { return kMu * z; },
          [](const Tensor& z, const Tensor&) { return kSigma * z; }};
}

TEST(BrownianPath, IncrementsAndBridgeHaveBrownianCovariances) {
  const int64_t n = 20000;
  BrownianPath path(0.0, {n}, kF64, at::make_generator<at::CPUGeneratorImpl>(1));
  const auto w1 = path.value(1.0);
  const auto w_half = path.value(0.5);  // bridge between 0 and 1
  const auto w2 = path.value(2.0);      // extension
  EXPECT_TRUE(at::equal(path.value(0.5), w_half));
  const double se = testing::kMonteCarloZ * std::sqrt(2.0 / n);  // relative se of a variance
  EXPECT_NEAR(w1.var().item<double>(), 1.0, se);
  EXPECT_NEAR(w_half.var().item<double>(), 0.5, 0.5 * se);
  EXPECT_NEAR((w_half * w1).mean().item<double>(), 0.5, se);
  EXPECT_NEAR((w2 - w1).var().item<double>(), 1.0, se);
  EXPECT_NEAR(((w2 - w1) * w1).mean().item<double>(), 0.0, testing::kMonteCarloZ / std::sqrt(double(n)));
  EXPECT_THROW(path.value(-0.1), std::invalid_argument);
  SdeSolveOptions o;
  EXPECT_THROW(sdeint(gbm(), at::ones({n, 1}, kF64), {0.0, 1.0}, path, o), std::invalid_argument);
}

struct StrongResult {
  std::vector<double> h, err;
};

StrongResult gbm_strong_errors(SdeMethod method) {
  const int64_t n = 4000;
  BrownianPath path(0.0, {n}, kF64, at::make_generator<at::CPUGeneratorImpl>(42));
  const auto x0 = at::ones({n}, kF64);
  const auto exact = x0 * at::exp((kMu - 0.5 * kSigma * kSigma) + kSigma * path.value(1.0));
  StrongResult r;
  for (int k = 3; k <= 8; ++k) {
    SdeSolveOptions o;
    o.method = method;
    o.dt = std::ldexp(1.0, -k);
    const auto x = sdeint(gbm(), x0, {0.0, 1.0}, path, o)[1];
    r.h.push_back(o.dt);
    r.err.push_back((x - exact).abs().mean().item<double>());
  }
  return r;
}

TEST(SdeSolvers, StrongOrdersOnGeometricBrownianMotion) {
  const auto em = gbm_strong_errors(SdeMethod::kEulerMaruyama);
  const auto srk = gbm_strong_errors(SdeMethod::kStochasticRungeKutta);
  RecordProperty("em_strong_slope", std::to_string(log_log_slope(em.h, em.err)));
  RecordProperty("srk_strong_slope", std::to_string(log_log_slope(srk.h, srk.err)));
  EXPECT_NEAR(log_log_slope(em.h, em.err), 0.5, 0.12);
  EXPECT_NEAR(log_log_slope(srk.h, srk.err), 1.0, 0.12);
  EXPECT_LT(srk.err.back(), 0.2 * em.err.back());
}

// Ornstein-Uhlenbeck dX = -theta X dt + sigma dW has additive noise, where both schemes reach
// strong order 1; the reference is the same path solved with a 16 times finer step.
TEST(SdeSolvers, StrongOrderOneOnOrnsteinUhlenbeck) {
  const double theta = 2.0, sigma = 0.5;
  DiagonalSde ou{[=](const Tensor& z, const Tensor&) { return -theta * z; },
                 constant_diffusion(at::full({1}, sigma, kF64))};
  const int64_t n = 2000;
  BrownianPath path(0.0, {n, 1}, kF64, at::make_generator<at::CPUGeneratorImpl>(7));
  const auto x0 = at::ones({n, 1}, kF64);
  SdeSolveOptions fine;
  fine.method = SdeMethod::kEulerMaruyama;
  fine.dt = std::ldexp(1.0, -12);
  const auto reference = sdeint(ou, x0, {0.0, 1.0}, path, fine)[1];
  std::vector<double> h, err;
  for (int k = 3; k <= 8; ++k) {
    SdeSolveOptions o;
    o.method = SdeMethod::kEulerMaruyama;
    o.dt = std::ldexp(1.0, -k);
    h.push_back(o.dt);
    err.push_back((sdeint(ou, x0, {0.0, 1.0}, path, o)[1] - reference).abs().mean().item<double>());
  }
  RecordProperty("ou_em_strong_slope", std::to_string(log_log_slope(h, err)));
  EXPECT_NEAR(log_log_slope(h, err), 1.0, 0.12);
}

// Weak order 1: the bias of E[X_T] for Ornstein-Uhlenbeck (plain Monte Carlo, exact mean
// X0 exp(-theta T)) and of E[X_T] for GBM (common random numbers against the exact solution).
TEST(SdeSolvers, WeakOrderOne) {
  for (auto method : {SdeMethod::kEulerMaruyama, SdeMethod::kStochasticRungeKutta}) {
    const double theta = 2.0, sigma = 0.5;
    DiagonalSde ou{[=](const Tensor& z, const Tensor&) { return -theta * z; },
                   constant_diffusion(at::full({1}, sigma, kF64))};
    const int64_t n = 200000;
    std::vector<double> h, err;
    for (int k = 2; k <= 5; ++k) {
      BrownianPath path(0.0, {n, 1}, kF64, at::make_generator<at::CPUGeneratorImpl>(100 + k));
      SdeSolveOptions o;
      o.method = method;
      o.dt = std::ldexp(1.0, -k);
      const auto x = sdeint(ou, at::ones({n, 1}, kF64), {0.0, 1.0}, path, o)[1];
      const double bias = x.mean().item<double>() - std::exp(-theta);
      const double se = x.std().item<double>() / std::sqrt(double(n));
      ASSERT_GT(std::abs(bias), 10 * se) << "bias not resolved at h = " << o.dt;
      h.push_back(o.dt);
      err.push_back(std::abs(bias));
    }
    RecordProperty("ou_weak_slope_" + std::to_string(static_cast<int>(method)), std::to_string(log_log_slope(h, err)));
    EXPECT_NEAR(log_log_slope(h, err), 1.0, 0.15);

    const int64_t m = 20000;
    BrownianPath path(0.0, {m}, kF64, at::make_generator<at::CPUGeneratorImpl>(5));
    const auto exact = at::exp((kMu - 0.5 * kSigma * kSigma) + kSigma * path.value(1.0));
    std::vector<double> hg, eg;
    for (int k = 3; k <= 6; ++k) {
      SdeSolveOptions o;
      o.method = method;
      o.dt = std::ldexp(1.0, -k);
      const auto diff = sdeint(gbm(), at::ones({m}, kF64), {0.0, 1.0}, path, o)[1] - exact;
      const double bias = diff.mean().item<double>();
      ASSERT_GT(std::abs(bias), 10 * diff.std().item<double>() / std::sqrt(double(m)));
      hg.push_back(o.dt);
      eg.push_back(std::abs(bias));
    }
    RecordProperty("gbm_weak_slope_" + std::to_string(static_cast<int>(method)), std::to_string(log_log_slope(hg, eg)));
    EXPECT_NEAR(log_log_slope(hg, eg), 1.0, 0.15);
  }
}

// Stochastic Heun: second order in the drift (a rotation z' = (-z2, z1), where Euler-Maruyama
// spirals outwards at first order) and strong order 1 for additive noise (Ornstein-Uhlenbeck
// against the same path solved 16 times finer), at two drift evaluations per step.
TEST(SdeSolvers, HeunIsSecondOrderInTheDriftAndStrongOrderOneForAdditiveNoise) {
  const DriftFn turn = [](const Tensor& z, const Tensor&) {
    return at::stack({-z.select(-1, 1), z.select(-1, 0)}, -1);
  };
  DiagonalSde rotation{turn, constant_diffusion(at::zeros({2}, kF64))};
  const Tensor z0 = at::tensor(std::vector<double>{1.0, 0.0}, kF64).view({1, 2});
  const Tensor exact = at::tensor(std::vector<double>{std::cos(2.0), std::sin(2.0)}, kF64).view({1, 2});
  std::vector<double> h, heun_err, euler_err;
  for (int k = 3; k <= 7; ++k) {
    BrownianPath path(0.0, {1, 2}, kF64, at::make_generator<at::CPUGeneratorImpl>(1));
    SdeSolveOptions o;
    o.dt = std::ldexp(1.0, -k);
    NfeCounter nfe;
    o.nfe = &nfe;
    o.method = SdeMethod::kHeun;
    heun_err.push_back((sdeint(rotation, z0, {0.0, 2.0}, path, o)[1] - exact).abs().max().item<double>());
    EXPECT_EQ(nfe.count(), 2 * (int64_t{2} << k));  // 2 / dt steps of two evaluations
    o.method = SdeMethod::kEulerMaruyama;
    euler_err.push_back((sdeint(rotation, z0, {0.0, 2.0}, path, o)[1] - exact).abs().max().item<double>());
    h.push_back(o.dt);
  }
  RecordProperty("heun_drift_slope", std::to_string(log_log_slope(h, heun_err)));
  EXPECT_NEAR(log_log_slope(h, heun_err), 2.0, 0.15);
  EXPECT_NEAR(log_log_slope(h, euler_err), 1.0, 0.15);

  const double theta = 2.0, sigma = 0.5;
  DiagonalSde ou{[=](const Tensor& z, const Tensor&) { return -theta * z; },
                 constant_diffusion(at::full({1}, sigma, kF64))};
  const int64_t n = 2000;
  BrownianPath path(0.0, {n, 1}, kF64, at::make_generator<at::CPUGeneratorImpl>(8));
  const auto x0 = at::ones({n, 1}, kF64);
  SdeSolveOptions fine;
  fine.method = SdeMethod::kHeun;
  fine.dt = std::ldexp(1.0, -12);
  const auto reference = sdeint(ou, x0, {0.0, 1.0}, path, fine)[1];
  std::vector<double> hs, err;
  for (int k = 3; k <= 8; ++k) {
    SdeSolveOptions o;
    o.method = SdeMethod::kHeun;
    o.dt = std::ldexp(1.0, -k);
    hs.push_back(o.dt);
    err.push_back((sdeint(ou, x0, {0.0, 1.0}, path, o)[1] - reference).abs().mean().item<double>());
  }
  RecordProperty("ou_heun_strong_slope", std::to_string(log_log_slope(hs, err)));
  EXPECT_NEAR(log_log_slope(hs, err), 1.0, 0.12);
}

TEST(SdeSolvers, AdaptiveStepsMeetTheirToleranceAndCountEvaluations) {
  const int64_t n = 1000;
  BrownianPath path(0.0, {n, 1}, kF64, at::make_generator<at::CPUGeneratorImpl>(9));
  const auto x0 = at::ones({n, 1}, kF64);
  std::vector<double> err;
  std::vector<int64_t> steps;
  for (double tol : {1e-1, 1e-2, 1e-3}) {
    SdeSolveOptions o;
    o.adaptive = true;
    o.rtol = o.atol = tol;
    o.dt = 0.1;
    NfeCounter nfe;
    o.nfe = &nfe;
    SdeSolveStats stats;
    const auto xs = sdeint(gbm(), x0, {0.0, 0.5, 1.0}, path, o, &stats);
    const auto exact = at::exp((kMu - 0.5 * kSigma * kSigma) + kSigma * path.value(1.0));
    err.push_back((xs[2] - exact).abs().mean().item<double>());
    steps.push_back(stats.accepted_steps);
    // Three drift calls (each of n states) per attempted step.
    EXPECT_EQ(nfe.count(), 3 * n * (stats.accepted_steps + stats.rejected_steps));
  }
  EXPECT_GT(err[0], err[1]);
  EXPECT_GT(err[1], err[2]);
  EXPECT_LT(steps[0], steps[1]);
  EXPECT_LT(steps[1], steps[2]);
  EXPECT_LT(err[2], 0.1 * err[0]);
}

TEST(SdeSolvers, ForecastBandsContainTheMean) {
  const double theta = 1.0, sigma = 0.3;
  DiagonalSde ou{[=](const Tensor& z, const Tensor&) { return -theta * z; },
                 constant_diffusion(at::full({2}, sigma, kF64))};
  std::vector<double> times{0.0, 0.5, 1.0, 2.0};
  SdeSolveOptions o;
  o.dt = 0.01;
  const auto f = forecast(ou, at::tensor({1.0, -2.0}, kF64), times, 4000, o,
                          at::make_generator<at::CPUGeneratorImpl>(3), 0.1, 0.9);
  ASSERT_EQ(f.paths.sizes(), (at::IntArrayRef{4, 4000, 2}));
  EXPECT_TRUE((f.lower <= f.mean).all().item<bool>());
  EXPECT_TRUE((f.mean <= f.upper).all().item<bool>());
  // The mean at t = 2 against X0 exp(-theta t), within Monte Carlo error (plus EM's O(dt) bias).
  const auto exact = at::tensor({1.0, -2.0}, kF64) * std::exp(-2.0);
  const double sd = sigma * std::sqrt((1 - std::exp(-4.0)) / 2);
  EXPECT_LT((f.mean[3] - exact).abs().max().item<double>(), testing::kMonteCarloZ * sd / std::sqrt(4000.0) + 0.01);
  // The 10-90 % band of a Gaussian is 2.563 sd wide.
  EXPECT_NEAR((f.upper[3] - f.lower[3]).mean().item<double>(), 2.563 * sd, 0.1 * sd);
}

}  // namespace
}  // namespace amortize::sde
