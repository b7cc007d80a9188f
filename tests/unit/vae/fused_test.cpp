// The fused float32 kernels against ATen in float64: values and gradients to a few float ulps
// (deterministic arithmetic, so the tolerances are rounding errors, not Monte-Carlo ones).
#include "amortize/dist/discrete/bernoulli.hpp"
#include "amortize/infer/optim/adam.hpp"
#include "amortize/vae/fused_adam.hpp"
#include "amortize/vae/fused_ops.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <iterator>

using namespace amortize;
using namespace amortize::vae;

namespace {

at::Generator gen(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

// Logits over the whole float range the kernels clamp or switch in: wide normals, exact zeros,
// and the extremes where exp underflows.
Tensor awkward_values(at::IntArrayRef shape, uint64_t seed) {
  auto g = gen(seed);
  auto v = 8 * at::randn(shape, g, at::kFloat);
  auto flat = v.view(-1);
  const float edges[] = {0.0f, -0.0f, -87.0f, -88.5f, -104.0f, 87.0f, 100.0f, 1e-30f, -1e-30f, 20.0f, -20.0f};
  for (int64_t i = 0; i < static_cast<int64_t>(std::size(edges)) && i < flat.numel(); ++i) flat[i] = edges[i];
  return v;
}

// Largest |a - b| / (|b| + floor) over the elements.
double max_relative(const Tensor& a, const Tensor& b, double floor) {
  return ((a.to(at::kDouble) - b).abs() / (b.abs() + floor)).max().item<double>();
}

}  // namespace

TEST(FusedSoftplus, MatchesAtenInValueAndGradientToFloatRounding) {
  auto a = awkward_values({37, 101}, 1).requires_grad_(true);
  auto h = vae::softplus(a);
  auto a64 = a.detach().to(at::kDouble).requires_grad_(true);
  auto ref = at::softplus(a64);
  EXPECT_EQ(h.scalar_type(), at::kFloat);
  EXPECT_LT(max_relative(h.detach(), ref.detach(), 1e-30), 1e-6);
  auto w = at::randn({37, 101}, gen(2), at::kDouble);
  auto g = torch::autograd::grad({(h.to(at::kDouble) * w).sum()}, {a})[0];
  auto g_ref = torch::autograd::grad({(ref * w).sum()}, {a64})[0];
  EXPECT_LT(max_relative(g, g_ref, 1e-30), 1e-6);
  // Without a gradient the same values, by the forward-only kernel.
  at::NoGradGuard no_grad;
  EXPECT_TRUE(at::equal(vae::softplus(a.detach()), h.detach()));
}

TEST(FusedSoftplus, OtherDtypesAndLayoutsFallBackToAten) {
  auto a = at::randn({6, 5}, gen(3), at::kDouble);
  EXPECT_TRUE(at::equal(vae::softplus(a), at::softplus(a)));
  auto t = at::randn({5, 6}, gen(4), at::kFloat).t();  // not contiguous
  EXPECT_TRUE(at::allclose(vae::softplus(t), at::softplus(t), 1e-6, 1e-7));
}

TEST(FusedBernoulli, MatchesBernoulliToEventWithBroadcastParticles) {
  auto logits = awkward_values({3, 5, 97}, 5).requires_grad_(true);
  auto x = at::bernoulli(at::full({5, 97}, 0.4), gen(6)).to(at::kFloat);  // broadcasts over 3
  auto lp = bernoulli_logits_log_prob(logits, x);
  ASSERT_EQ(lp.sizes(), (at::IntArrayRef{3, 5}));
  auto l64 = logits.detach().to(at::kDouble).requires_grad_(true);
  auto ref = dist::Bernoulli::from_logits(l64).to_event(1)->log_prob(x.to(at::kDouble));
  // Sums of 97 terms: relative to the sum of magnitudes, a few float ulps.
  const double scale = l64.detach().abs().sum(-1).max().item<double>();
  EXPECT_LT((lp.detach().to(at::kDouble) - ref.detach()).abs().max().item<double>() / scale, 1e-6);
  auto w = at::randn({3, 5}, gen(7), at::kDouble);
  auto g = torch::autograd::grad({(lp.to(at::kDouble) * w).sum()}, {logits})[0];
  auto g_ref = torch::autograd::grad({(ref * w).sum()}, {l64})[0];
  EXPECT_LT((g.to(at::kDouble) - g_ref).abs().max().item<double>(), 1e-6 * w.abs().max().item<double>());
  at::NoGradGuard no_grad;
  EXPECT_TRUE(at::equal(bernoulli_logits_log_prob(logits.detach(), x), lp.detach()));
}

TEST(FusedBernoulli, FallbacksAgreeWithTheFastPath) {
  auto logits = awkward_values({4, 33}, 8);
  auto x = at::bernoulli(at::full({4, 33}, 0.5), gen(9)).to(at::kFloat);
  auto fast = bernoulli_logits_log_prob(logits, x);
  // Double x (converted), transposed logits (not contiguous) and x broadcasting the other way.
  EXPECT_TRUE(at::allclose(bernoulli_logits_log_prob(logits, x.to(at::kDouble)), fast, 1e-5, 1e-4));
  auto lt = logits.t().contiguous().t();
  ASSERT_FALSE(lt.is_contiguous());
  EXPECT_TRUE(at::allclose(bernoulli_logits_log_prob(lt, x), fast, 1e-5, 1e-4));
  auto row = logits.slice(0, 0, 1);  // (1, 33) logits against (4, 33) images
  EXPECT_TRUE(at::allclose(bernoulli_logits_log_prob(row, x).slice(0, 0, 1), fast.slice(0, 0, 1), 1e-5, 1e-4));
  EXPECT_THROW(bernoulli_logits_log_prob(at::zeros({}), x), std::invalid_argument);
}

TEST(FusedAdam, FollowsTheSharedAdamStepForStep) {
  // The same noisy quadratic for both optimisers, float32 parameters (fast path) and a float64
  // one (ATen path); 200 steps, so bias correction, both moments and the update all matter.
  auto target = at::randn({300}, gen(10), at::kFloat);
  auto make = [&] {
    return std::vector<Tensor>{at::zeros({300}, at::kFloat).requires_grad_(true),
                               at::zeros({4, 3}, at::kDouble).requires_grad_(true)};
  };
  auto fused_params = make();
  auto shared_params = make();
  FusedAdam fused(fused_params, 0.01);
  infer::optim::Adam shared(0.01);
  shared.add_parameters(shared_params);
  auto noise = gen(11);
  for (int step = 0; step < 200; ++step) {
    auto eps = at::randn({300}, noise, at::kFloat);
    for (auto* params : {&fused_params, &shared_params}) {
      auto loss = ((*params)[0] - target - 0.3 * eps).square().sum() + ((*params)[1] - 1).pow(4).sum();
      loss.backward();
    }
    fused.step();
    shared.step();
    shared.zero_grad();
    EXPECT_FALSE(fused_params[0].grad().defined());
  }
  const double moved = (shared_params[0] - at::zeros({300})).abs().max().item<double>();
  ASSERT_GT(moved, 0.5);
  EXPECT_LT((fused_params[0] - shared_params[0]).abs().max().item<double>(), 1e-4 * moved);
  EXPECT_TRUE(at::allclose(fused_params[1], shared_params[1], 1e-12, 1e-12));
}

TEST(FusedAdam, SkipsParametersWithoutGradientAndRejectsBadOptions) {
  auto a = at::ones({3}).requires_grad_(true);
  auto b = at::ones({3}).requires_grad_(true);
  FusedAdam adam({a, b}, 0.1);
  (a * 2).sum().backward();
  adam.step();
  EXPECT_TRUE(at::equal(b, at::ones({3})));
  // First Adam step: m_hat / sqrt(v_hat) = sign(g), so every coordinate moves by the rate.
  EXPECT_TRUE(at::allclose(a, at::full({3}, 0.9f), 0, 1e-6));
  // Split over threads: the same floats.
  auto c = at::randn({1001}, gen(12)).requires_grad_(true);
  auto d = c.detach().clone().requires_grad_(true);
  FusedAdam one({c}, 0.1), three({d}, 0.1);
  for (int step = 0; step < 3; ++step) {
    (c.pow(3)).sum().backward();
    (d.pow(3)).sum().backward();
    one.step();
    three.step(3);
  }
  EXPECT_TRUE(at::equal(c, d));
  EXPECT_THROW(FusedAdam({a}, 0.0), std::invalid_argument);
  EXPECT_THROW(FusedAdam({a}, 0.1, FusedAdamOptions{1.0, 0.999, 1e-8}), std::invalid_argument);
}
