#include "amortize/sde/adjoint.hpp"
#include "amortize/sde/mlp.hpp"
#include "amortize/sde/solvers.hpp"

#include <gtest/gtest.h>

#include <torch/csrc/autograd/autograd.h>

#include <fmt/format.h>

#include <cmath>

namespace amortize::sde {
namespace {

const auto kF64 = at::TensorOptions().dtype(at::kDouble);

TEST(Dopri5, MeetsItsToleranceForwardsAndBackwards) {
  // y' = A y with A a damped rotation: y(t) = exp(-0.3 t) R(2 t) y0.
  const auto a = at::tensor({-0.3, -2.0, 2.0, -0.3}, kF64).view({2, 2});
  OdeFn f = [&](double, const Tensor& y) { return y.matmul(a.t()); };
  const auto y0 = at::tensor({1.0, 0.5}, kF64);
  auto exact = [&](double t) {
    const double c = std::cos(2 * t), s = std::sin(2 * t);
    return std::exp(-0.3 * t) * at::tensor({c * 1.0 - s * 0.5, s * 1.0 + c * 0.5}, kF64);
  };
  std::vector<double> err;
  std::vector<int64_t> nfe;
  for (double tol : {1e-4, 1e-7, 1e-10}) {
    OdeSolveStats stats;
    const auto ys = dopri5(f, y0, {0.0, 1.0, 3.0}, {tol, tol}, &stats);
    err.push_back((ys[2] - exact(3.0)).abs().max().item<double>());
    nfe.push_back(stats.function_evaluations);
    EXPECT_LT(err.back(), 100 * tol);
    // Backwards from t = 3 recovers y0.
    const auto back = dopri5(f, ys[2], {3.0, 0.0}, {tol, tol});
    EXPECT_LT((back[1] - y0).abs().max().item<double>(), 1000 * tol);
  }
  EXPECT_GT(err[0], err[1]);
  EXPECT_GT(err[1], err[2]);
  EXPECT_LT(nfe[0], nfe[1]);
  EXPECT_LT(nfe[1], nfe[2]);
}

struct Problem {
  Mlp net{nullptr};
  Tensor z0, weights;
  std::vector<double> times{0.0, 0.4, 1.1, 1.5};
};

Problem make_problem() {
  torch::manual_seed(11);
  Problem p;
  p.net = Mlp(2, std::vector<int64_t>{16, 16}, 2, Activation::kTanh, kF64);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  p.z0 = at::randn({3, 2}, gen, kF64).requires_grad_(true);
  p.weights = at::randn({4, 3, 2}, gen, kF64);
  return p;
}

std::vector<Tensor> gradients(Problem& p, const Tensor& trajectory) {
  const auto loss = (trajectory * p.weights).sum() + trajectory.square().sum();
  std::vector<Tensor> inputs{p.z0};
  for (const auto& w : p.net->parameters()) inputs.push_back(w);
  return torch::autograd::grad({loss}, inputs);
}

TEST(OdeintAdjoint, GradientsMatchBackpropagationThroughTheSameSolve) {
  auto p = make_problem();
  DriftFn drift = [&](const Tensor& z, const Tensor&) { return p.net->forward(z); };
  for (double tol : {1e-6, 1e-10}) {
    Dopri5Options o{tol, tol};
    NfeCounter bp_nfe, fwd, bwd;
    const auto traj_bp = odeint_backprop(drift, p.z0, p.times, o, &bp_nfe);
    const auto g_bp = gradients(p, traj_bp);
    AdjointOptions ao;
    ao.forward = o;
    ao.backward = o;
    ao.forward_nfe = &fwd;
    ao.backward_nfe = &bwd;
    const auto traj_adj = odeint_adjoint(drift, p.net->parameters(), p.z0, p.times, ao);
    EXPECT_TRUE(at::allclose(traj_adj, traj_bp.detach(), 0, 1e-12));
    EXPECT_EQ(fwd.count(), bp_nfe.count());
    EXPECT_EQ(bwd.count(), 0);
    const auto g_adj = gradients(p, traj_adj);
    EXPECT_GT(bwd.count(), 0);
    EXPECT_EQ(fwd.count() % 3, 0);  // three states per evaluation
    double worst = 0;
    for (size_t i = 0; i < g_bp.size(); ++i) {
      const double scale = 1 + g_bp[i].abs().max().item<double>();
      worst = std::max(worst, (g_adj[i] - g_bp[i]).abs().max().item<double>() / scale);
    }
    RecordProperty(fmt::format("adjoint_vs_backprop_rel_err_tol_{:g}", tol), fmt::format("{:.3g}", worst));
    RecordProperty(fmt::format("nfe_forward_backward_tol_{:g}", tol), std::to_string(fwd.count()) + "/" + std::to_string(bwd.count()));
    EXPECT_LT(worst, 1000 * tol) << "tolerance " << tol;
    if (tol < 1e-8) {
      EXPECT_LT(worst, 1e-7);
    }
  }
}

TEST(OdeintAdjoint, GradientMatchesFiniteDifferencesOfTheInitialState) {
  auto p = make_problem();
  DriftFn drift = [&](const Tensor& z, const Tensor&) { return p.net->forward(z); };
  AdjointOptions ao;
  ao.forward = ao.backward = {1e-10, 1e-10};
  const auto g = gradients(p, odeint_adjoint(drift, p.net->parameters(), p.z0, p.times, ao))[0];
  at::NoGradGuard ng;
  auto loss = [&](const Tensor& z0) {
    const auto tr = odeint_backprop(drift, z0, p.times, ao.forward);
    return ((tr * p.weights).sum() + tr.square().sum()).item<double>();
  };
  const double h = 1e-5;
  const auto base = p.z0.detach();
  for (int64_t i = 0; i < 3; ++i) {
    auto e = at::zeros_like(base);
    e[i][1] = h;
    EXPECT_NEAR(g[i][1].item<double>(), (loss(base + e) - loss(base - e)) / (2 * h), 1e-5);
  }
}

// The latent-SDE baseline back-propagates through Euler-Maruyama: on a fixed Brownian path the
// pathwise derivative matches finite differences.
TEST(EulerMaruyamaBackprop, PathwiseGradientMatchesFiniteDifferences) {
  const int64_t n = 50;
  BrownianPath path(0.0, {n, 1}, kF64, at::make_generator<at::CPUGeneratorImpl>(8));
  SdeSolveOptions o;
  o.method = SdeMethod::kEulerMaruyama;
  o.dt = 0.05;
  auto solve = [&](const Tensor& theta) {
    DiagonalSde sde{[&](const Tensor& z, const Tensor&) { return theta * at::sin(z) - z; },
                    constant_diffusion(at::full({1}, 0.3, kF64))};
    return sdeint(sde, at::ones({n, 1}, kF64), {0.0, 1.0}, path, o)[1].square().mean();
  };
  const auto theta = at::full({1}, 0.7, kF64).requires_grad_(true);
  const auto g = torch::autograd::grad({solve(theta)}, {theta})[0].item<double>();
  at::NoGradGuard ng;
  const double h = 1e-6;
  const double fd = (solve(at::full({1}, 0.7 + h, kF64)) - solve(at::full({1}, 0.7 - h, kF64))).item<double>() / (2 * h);
  EXPECT_NEAR(g, fd, 1e-6 * (1 + std::abs(fd)));
  EXPECT_GT(std::abs(g), 1e-3);
}

}  // namespace
}  // namespace amortize::sde
