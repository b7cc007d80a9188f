#include "amortize/infer/optim/adagrad.hpp"
#include "amortize/infer/optim/adam.hpp"
#include "amortize/infer/optim/rmsprop.hpp"
#include "amortize/infer/optim/sgd.hpp"

#include <gtest/gtest.h>
#include <torch/optim/adagrad.h>
#include <torch/optim/adam.h>
#include <torch/optim/rmsprop.h>
#include <torch/optim/sgd.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <cmath>
#include <functional>
#include <sstream>

using namespace amortize;
using namespace amortize::infer::optim;

namespace {
at::TensorOptions f64() { return at::TensorOptions().dtype(at::kDouble); }

// A deterministic, coupled, non-quadratic loss of two parameters.
struct Problem {
  Tensor x0 = at::tensor({0.5, -1.0, 2.0, 0.1}, f64());
  Tensor w0 = at::tensor({0.3, -0.7, 1.2, 0.9, -0.2, 0.4}, f64()).reshape({2, 3});
  Tensor loss(const Tensor& x, const Tensor& w) const {
    auto c = at::tensor({1.0, 2.0, -1.0, 0.0}, x.options());
    auto a = at::tensor({1.0, 3.0, 0.5, 2.0}, x.options());
    return ((x - c).square() * a).sum() + (w.sin() * w).sum() + (x.sum() * w.sum()).square() / 10.0;
  }
};

using Trajectory = std::vector<Tensor>;

// `steps` steps of opt (ours or torch's) on the problem's loss; (x, w) flattened after each step.
template <class Opt>
Trajectory record_steps(const Problem& pr, Opt& opt, const Tensor& x, const Tensor& w, int steps) {
  Trajectory out;
  for (int i = 0; i < steps; ++i) {
    opt.zero_grad();
    pr.loss(x, w).backward();
    opt.step();
    out.push_back(at::cat({x.detach().flatten(), w.detach().flatten()}).clone());
  }
  return out;
}

Trajectory run_ours(Optimizer& opt, int steps, at::ScalarType dtype = at::kDouble) {
  Problem pr;
  Tensor x = pr.x0.to(dtype).clone().set_requires_grad(true);
  Tensor w = pr.w0.to(dtype).clone().set_requires_grad(true);
  opt.add_parameters(std::map<std::string, Tensor>{{"x", x}, {"w", w}});
  return record_steps(pr, opt, x, w, steps);
}

template <class TorchOpt, class Options>
Trajectory run_torch(Options options, int steps) {
  Problem pr;
  Tensor x = pr.x0.clone().set_requires_grad(true);
  Tensor w = pr.w0.clone().set_requires_grad(true);
  TorchOpt opt(std::vector<Tensor>{x, w}, options);
  return record_steps(pr, opt, x, w, steps);
}

// Both trajectories agree to within tol at every step, and ours really moved (more than 10 tol),
// so that the check cannot pass by standing still.
::testing::AssertionResult same_trajectory(const Trajectory& ours, const Trajectory& theirs, double tol) {
  if (ours.size() != theirs.size()) {
    return ::testing::AssertionFailure() << ours.size() << " steps against " << theirs.size();
  }
  double worst = 0;
  for (size_t i = 0; i < ours.size(); ++i) worst = std::max(worst, (ours[i] - theirs[i]).abs().max().item<double>());
  if (!(worst < tol)) {
    return ::testing::AssertionFailure() << "the trajectories differ by up to " << worst << ", not below " << tol;
  }
  const double moved = (ours.back() - ours.front()).abs().max().item<double>();
  if (!(moved > 10 * tol)) {
    return ::testing::AssertionFailure() << "the trajectory moved only " << moved << ", not more than " << 10 * tol;
  }
  return ::testing::AssertionSuccess();
}
}  // namespace

TEST(Adam, MatchesTorchOptimAdam) {
  Adam ours(0.05, {0.8, 0.99, 1e-6, 0.01});
  auto theirs = run_torch<torch::optim::Adam>(
      torch::optim::AdamOptions(0.05).betas({0.8, 0.99}).eps(1e-6).weight_decay(0.01), 60);
  EXPECT_TRUE(same_trajectory(run_ours(ours, 60), theirs, 1e-10));
}

TEST(Adam, Float32MatchesTheFloat64RunToSinglePrecision) {
  Adam a64(0.05), a32(0.05);
  auto t64 = run_ours(a64, 30);
  auto t32 = run_ours(a32, 30, at::kFloat);
  EXPECT_EQ(t32.back().scalar_type(), at::kFloat);
  EXPECT_LT((t32.back().to(at::kDouble) - t64.back()).abs().max().item<double>(), 1e-4);
}

TEST(Adam, FirstStepIsTheClosedFormSignStep) {
  Tensor p = at::tensor({1.0, -2.0, 0.0}, f64()).set_requires_grad(true);
  Adam opt(0.1, {0.9, 0.999, 1e-3});
  opt.add_parameter("p", p);
  Tensor g = at::tensor({2.0, -0.5, 1e-4}, f64());
  p.mutable_grad() = g.clone();
  opt.step();
  // m_hat = g, v_hat = g^2: p1 = p0 - lr g / (|g| + eps).
  Tensor expected = at::tensor({1.0, -2.0, 0.0}, f64()) - 0.1 * g / (g.abs() + 1e-3);
  EXPECT_TRUE(at::allclose(p.detach(), expected, 1e-12, 1e-14));
  EXPECT_EQ(opt.steps(), 1);
}

TEST(Sgd, MatchesTorchOptimSgdWithMomentum) {
  Sgd ours(0.01, {0.9, 0.1, false, 0.05});
  auto theirs =
      run_torch<torch::optim::SGD>(torch::optim::SGDOptions(0.01).momentum(0.9).dampening(0.1).weight_decay(0.05), 60);
  EXPECT_TRUE(same_trajectory(run_ours(ours, 60), theirs, 1e-10));
}

TEST(Sgd, MatchesTorchOptimSgdWithNesterov) {
  Sgd ours(0.01, {0.9, 0.0, true, 0.0});
  auto theirs = run_torch<torch::optim::SGD>(torch::optim::SGDOptions(0.01).momentum(0.9).nesterov(true), 60);
  EXPECT_TRUE(same_trajectory(run_ours(ours, 60), theirs, 1e-10));
}

TEST(Sgd, NesterovClosedFormTwoSteps) {
  // Constant gradient g: buf1 = g, step1 = lr (g + m g); buf2 = m g + g, step2 = lr (g + m (1 + m) g).
  const double lr = 0.1, m = 0.5, g = 2.0;
  Tensor p = at::zeros({1}, f64()).set_requires_grad(true);
  Sgd opt(lr, {m, 0.0, true});
  opt.add_parameter("p", p);
  for (int i = 0; i < 2; ++i) {
    p.mutable_grad() = at::full({1}, g, f64());
    opt.step();
  }
  const double expected = -lr * (g + m * g) - lr * (g + m * (1 + m) * g);
  EXPECT_NEAR(p.item<double>(), expected, 1e-14);
  EXPECT_THROW(Sgd(0.1, {0.0, 0.0, true}), std::invalid_argument);
}

TEST(Rmsprop, MatchesTorchOptimRmsprop) {
  Rmsprop ours(0.01, {0.9, 1e-8, 0.0, false, 0.0});
  auto theirs = run_torch<torch::optim::RMSprop>(torch::optim::RMSpropOptions(0.01).alpha(0.9), 60);
  EXPECT_TRUE(same_trajectory(run_ours(ours, 60), theirs, 1e-10));
}

TEST(Rmsprop, MatchesTorchOptimCenteredWithMomentum) {
  Rmsprop ours(0.01, {0.95, 1e-6, 0.8, true, 0.02});
  auto theirs = run_torch<torch::optim::RMSprop>(
      torch::optim::RMSpropOptions(0.01).alpha(0.95).eps(1e-6).momentum(0.8).centered(true).weight_decay(0.02), 60);
  EXPECT_TRUE(same_trajectory(run_ours(ours, 60), theirs, 1e-10));
}

TEST(Adagrad, MatchesTorchOptimAdagrad) {
  Adagrad ours(0.1, {0.01, 0.01, 0.1, 1e-10});
  auto theirs = run_torch<torch::optim::Adagrad>(
      torch::optim::AdagradOptions(0.1).lr_decay(0.01).weight_decay(0.01).initial_accumulator_value(0.1), 60);
  EXPECT_TRUE(same_trajectory(run_ours(ours, 60), theirs, 1e-10));
}

TEST(ClippedAdam, ClipsByTheGlobalNormAcrossParameters) {
  Tensor a = at::zeros({2}, f64()).set_requires_grad(true);
  Tensor b = at::zeros({1}, f64()).set_requires_grad(true);
  ClippedAdam opt(0.1, {0.9, 0.999, 1e-8, 0.0, /*clip_norm=*/1.0});
  opt.add_parameters(std::map<std::string, Tensor>{{"a", a}, {"b", b}});
  // Global norm 5 (each parameter's own norm is below or near it: 3 and 4).
  a.mutable_grad() = at::tensor({3.0, 0.0}, f64());
  b.mutable_grad() = at::tensor({-4.0}, f64());
  opt.step();
  EXPECT_NEAR(opt.last_gradient_norm(), 5.0, 1e-12);
  const double scale = 1.0 / (5.0 + 1e-6);
  // exp_avg = (1 - beta1) * clipped gradient.
  EXPECT_TRUE(at::allclose(opt.state("a").at("exp_avg"), at::tensor({0.3 * scale, 0.0}, f64()), 1e-12, 1e-15));
  EXPECT_TRUE(at::allclose(opt.state("b").at("exp_avg"), at::tensor({-0.4 * scale}, f64()), 1e-12, 1e-15));
}

TEST(ClippedAdam, SmallGradientsAreNotClipped) {
  Tensor a = at::zeros({2}, f64()).set_requires_grad(true);
  ClippedAdam opt(0.1, {0.9, 0.999, 1e-8, 0.0, /*clip_norm=*/10.0});
  opt.add_parameter("a", a);
  a.mutable_grad() = at::tensor({3.0, -4.0}, f64());
  opt.step();
  EXPECT_TRUE(at::allclose(opt.state("a").at("exp_avg"), at::tensor({0.3, -0.4}, f64()), 1e-14, 0));
}

TEST(ClippedAdam, LearningRateDecaysEveryStepAsPyro) {
  // Pyro: step t uses lr * lrd^t, and p -= lr_t sqrt(bc2)/bc1 m / (sqrt(v) + eps).
  const double lr = 0.1, lrd = 0.5, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  Tensor p = at::zeros({1}, f64()).set_requires_grad(true);
  ClippedAdam opt(lr, {b1, b2, eps, 0.0, 100.0, lrd});
  opt.add_parameter("p", p);
  double m = 0, v = 0, expected = 0;
  const double grads[] = {1.0, -3.0, 2.0};
  for (int t = 1; t <= 3; ++t) {
    const double g = grads[t - 1];
    p.mutable_grad() = at::full({1}, g, f64());
    opt.step();
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    const double bc1 = 1 - std::pow(b1, t), bc2 = 1 - std::pow(b2, t);
    expected -= lr * std::pow(lrd, t) * std::sqrt(bc2) / bc1 * m / (std::sqrt(v) + eps);
  }
  EXPECT_NEAR(p.item<double>(), expected, 1e-14);
}

TEST(Optimizers, ConvergeOnAnIllConditionedQuadratic) {
  // f(x) = 1/2 sum a_i (x_i - c_i)^2, optimum c.
  auto a = at::tensor({1.0, 10.0, 0.1}, f64());
  auto c = at::tensor({1.0, -2.0, 3.0}, f64());
  std::vector<std::pair<std::string, std::function<std::shared_ptr<Optimizer>()>>> cases = {
      {"Adam", [] { return std::make_shared<Adam>(0.05); }},
      {"ClippedAdam",
       [] {
         return std::make_shared<ClippedAdam>(0.05, ClippedAdamOptions{0.9, 0.999, 1e-8, 0, 10, 0.999});
       }},
      {"SGD", [] { return std::make_shared<Sgd>(0.05, SgdOptions{0.9}); }},
      {"Nesterov",
       [] {
         return std::make_shared<Sgd>(0.05, SgdOptions{0.9, 0.0, true});
       }},
      {"RMSprop", [] { return std::make_shared<Rmsprop>(0.01); }},
      {"Adagrad", [] { return std::make_shared<Adagrad>(0.5); }},
  };
  for (const auto& [name, make] : cases) {
    auto opt = make();
    Tensor x = at::zeros({3}, f64()).set_requires_grad(true);
    opt->add_parameter("x", x);
    const int steps = 1500;
    for (int i = 0; i < steps; ++i) {
      opt->zero_grad();
      (0.5 * (a * (x - c).square()).sum()).backward();
      // A decaying rate lets the sign-like adaptive methods settle.
      opt->step(0.5 * (1 + std::cos(M_PI * i / steps)));
    }
    EXPECT_LT((x.detach() - c).abs().max().item<double>(), 1e-3) << name << " ended at " << x;
  }
}

TEST(Optimizers, ParametersAddedLaterStartTheirOwnCount) {
  // A parameter registered after some steps behaves as a fresh Adam on it.
  Tensor a = at::ones({2}, f64()).set_requires_grad(true);
  Tensor b = at::tensor({0.5, -0.5}, f64()).set_requires_grad(true);
  Tensor b_ref = b.detach().clone().set_requires_grad(true);
  Adam opt(0.1);
  opt.add_parameter("a", a);
  for (int i = 0; i < 3; ++i) {
    opt.zero_grad();
    a.square().sum().backward();
    opt.step();
  }
  opt.add_parameter("b", b);
  Adam fresh(0.1);
  fresh.add_parameter("b", b_ref);
  for (int i = 0; i < 4; ++i) {
    opt.zero_grad();
    fresh.zero_grad();
    (a.square().sum() + b.pow(3).sum()).backward();
    b_ref.pow(3).sum().backward();
    opt.step();
    fresh.step();
  }
  EXPECT_TRUE(torch::equal(b.detach(), b_ref.detach()));
}

TEST(Optimizers, StateRoundTripsThroughAnArchiveByName) {
  for (int kind = 0; kind < 4; ++kind) {
    auto make = [kind]() -> std::unique_ptr<Optimizer> {
      switch (kind) {
        case 0:
          return std::make_unique<Adam>(0.05);
        case 1:
          return std::make_unique<Sgd>(0.01, SgdOptions{0.9, 0.0, true});
        case 2:
          return std::make_unique<Rmsprop>(0.01, RmspropOptions{0.9, 1e-8, 0.5, true});
        default:
          return std::make_unique<ClippedAdam>(0.05, ClippedAdamOptions{0.9, 0.999, 1e-8, 0, 1.0, 0.99});
      }
    };
    Problem pr;
    auto run = [&](Optimizer& opt, Tensor& x, Tensor& w, int steps) {
      for (int i = 0; i < steps; ++i) {
        opt.zero_grad();
        pr.loss(x, w).backward();
        opt.step();
      }
    };
    Tensor x1 = pr.x0.clone().set_requires_grad(true), w1 = pr.w0.clone().set_requires_grad(true);
    auto straight = make();
    straight->add_parameters(std::map<std::string, Tensor>{{"x", x1}, {"w", w1}});
    run(*straight, x1, w1, 20);

    Tensor x2 = pr.x0.clone().set_requires_grad(true), w2 = pr.w0.clone().set_requires_grad(true);
    std::stringstream buffer;
    {
      auto first = make();
      first->add_parameters(std::map<std::string, Tensor>{{"x", x2}, {"w", w2}});
      run(*first, x2, w2, 10);
      torch::serialize::OutputArchive out;
      first->save(out);
      out.save_to(buffer);
    }
    // A fresh optimiser; parameters registered in another order, found by name.
    auto second = make();
    second->add_parameter("w", w2);
    second->add_parameter("x", x2);
    torch::serialize::InputArchive in;
    in.load_from(buffer);
    second->load(in);
    EXPECT_EQ(second->steps(), 10);
    run(*second, x2, w2, 10);
    EXPECT_TRUE(torch::equal(x1.detach(), x2.detach())) << second->type_name();
    EXPECT_TRUE(torch::equal(w1.detach(), w2.detach())) << second->type_name();
  }
}

TEST(Optimizers, LoadingRefusesMissingParametersAndOtherTypes) {
  Tensor x = at::ones({2}, f64()).set_requires_grad(true);
  Adam adam(0.1);
  adam.add_parameter("x", x);
  x.square().sum().backward();
  adam.step();
  std::stringstream buffer;
  torch::serialize::OutputArchive out;
  adam.save(out);
  out.save_to(buffer);
  {
    Adam other(0.1);
    other.add_parameter("y", x);
    torch::serialize::InputArchive in;
    buffer.seekg(0);
    in.load_from(buffer);
    try {
      other.load(in);
      FAIL() << "loaded state for an unregistered parameter";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("'x'"), std::string::npos) << e.what();
    }
  }
  {
    Sgd sgd(0.1, {0.9});
    sgd.add_parameter("x", x);
    torch::serialize::InputArchive in;
    buffer.seekg(0);
    in.load_from(buffer);
    EXPECT_THROW(sgd.load(in), std::runtime_error);
  }
}

TEST(Optimizers, RejectBadHyperparameters) {
  EXPECT_THROW(Adam(0.0), std::invalid_argument);
  EXPECT_THROW(Adam(-1.0), std::invalid_argument);
  EXPECT_THROW(Adam(0.1, {1.0, 0.999}), std::invalid_argument);
  EXPECT_THROW(ClippedAdam(0.1, {0.9, 0.999, 1e-8, 0.0, 0.0}), std::invalid_argument);
  EXPECT_THROW(Rmsprop(0.1, {1.5}), std::invalid_argument);
  EXPECT_THROW(Adagrad(0.1, {-1.0}), std::invalid_argument);
}
