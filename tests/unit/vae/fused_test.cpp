// The fused float32 kernels against ATen in float64: values and gradients to a few float ulps
// (deterministic arithmetic, so the tolerances are rounding errors, not Monte-Carlo ones).
#include "amortize/dist/continuous/normal.hpp"
#include "amortize/dist/discrete/bernoulli.hpp"
#include "amortize/vae/fused_ops.hpp"
#include "amortize/vae/latent_normal.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>
#include <iterator>
#include <limits>
#include <vector>

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

TEST(DiagonalNormal, MatchesNormalToEventWithParticlesInValueAndGradient) {
  // Parameters (5, 7) drawn for 3 particles (a batch of (3, 5) after the plate's broadcast);
  // the draw and its log-density against Normal(loc, exp(log_scale)).to_event(1) in float64.
  auto loc = at::randn({5, 7}, gen(20), at::kFloat).requires_grad_(true);
  auto log_scale = (0.5 * at::randn({5, 7}, gen(21), at::kFloat)).requires_grad_(true);
  auto q = DiagonalNormal(loc, log_scale).expand({3, 5});
  auto z = q->rsample({}, gen(22));
  ASSERT_EQ(z.sizes(), (at::IntArrayRef{3, 5, 7}));
  auto lp = q->log_prob(z);
  ASSERT_EQ(lp.sizes(), (at::IntArrayRef{3, 5}));
  auto loc64 = loc.detach().to(at::kDouble).requires_grad_(true);
  auto ls64 = log_scale.detach().to(at::kDouble).requires_grad_(true);
  auto eps = at::randn({3, 5, 7}, gen(22), at::kFloat).to(at::kDouble);  // the draw's noise
  auto z64 = loc64 + at::exp(ls64) * eps;
  auto ref = dist::Normal(loc64, at::exp(ls64)).to_event(1)->log_prob(z64);
  EXPECT_LT((z.detach().to(at::kDouble) - z64.detach()).abs().max().item<double>(), 1e-5);
  EXPECT_LT((lp.detach().to(at::kDouble) - ref.detach()).abs().max().item<double>(), 1e-4);
  // Gradients of a weighted sum of draws and log-densities (pathwise through z, as in the ELBO).
  auto w = at::randn({3, 5}, gen(23), at::kDouble);
  auto wz = at::randn({3, 5, 7}, gen(24), at::kDouble);
  auto objective = [&](const Tensor& zz, const Tensor& l) {
    return (l.to(at::kDouble) * w).sum() + (zz.to(at::kDouble) * wz).sum();
  };
  auto g = torch::autograd::grad({objective(z, lp)}, {loc, log_scale});
  auto g_ref = torch::autograd::grad({objective(z64, ref)}, {loc64, ls64});
  for (int i = 0; i < 2; ++i) {
    const double scale = g_ref[i].abs().max().item<double>();
    EXPECT_LT((g[i].to(at::kDouble) - g_ref[i]).abs().max().item<double>(), 1e-5 * scale) << "parameter " << i;
  }
  // float64 parameters take the ATen expression: the same density.
  auto q64 = DiagonalNormal(loc64.detach(), ls64.detach());
  EXPECT_TRUE(at::allclose(q64.log_prob(z64.detach()[0]), ref.detach()[0], 1e-10, 1e-10));
  EXPECT_THROW(DiagonalNormal(loc, log_scale.slice(0, 0, 2)), dist::DistributionError);
}

TEST(StandardNormal, MatchesNormalToEventInValueAndGradient) {
  auto v = at::randn({4, 6, 9}, gen(25), at::kFloat).requires_grad_(true);
  StandardNormal p({6}, 9);
  auto lp = p.log_prob(v);
  ASSERT_EQ(lp.sizes(), (at::IntArrayRef{4, 6}));
  auto v64 = v.detach().to(at::kDouble).requires_grad_(true);
  auto ref = dist::Normal(at::zeros({6, 9}, at::kDouble), at::ones({6, 9}, at::kDouble)).to_event(1)->log_prob(v64);
  EXPECT_LT((lp.detach().to(at::kDouble) - ref.detach()).abs().max().item<double>(), 1e-5);
  auto w = at::randn({4, 6}, gen(26), at::kDouble);
  auto g = torch::autograd::grad({(lp.to(at::kDouble) * w).sum()}, {v})[0];
  auto g_ref = torch::autograd::grad({(ref * w).sum()}, {v64})[0];
  EXPECT_LT((g.to(at::kDouble) - g_ref).abs().max().item<double>(), 1e-5 * g_ref.abs().max().item<double>());
  EXPECT_EQ(p.expand({4, 6})->log_prob(v[0].detach()).sizes(), (at::IntArrayRef{4, 6}));  // broadcast to the batch
  EXPECT_THROW(p.log_prob(at::zeros({6, 8})), dist::DistributionError);
}

TEST(FusedLinearSoftplus, MatchesSoftplusOfLinearInValueAndGradient) {
  // (particles, batch, in) input as the decoder sees it, and a 2-D input without gradient as
  // the encoder's images; against ATen in float64.
  auto x = at::randn({3, 4, 11}, gen(30), at::kFloat).requires_grad_(true);
  auto weight = (0.5 * at::randn({13, 11}, gen(31), at::kFloat)).requires_grad_(true);
  auto bias = at::randn({13}, gen(32), at::kFloat).requires_grad_(true);
  auto h = linear_softplus(x, weight, bias);
  ASSERT_EQ(h.sizes(), (at::IntArrayRef{3, 4, 13}));
  auto x64 = x.detach().to(at::kDouble).requires_grad_(true);
  auto w64 = weight.detach().to(at::kDouble).requires_grad_(true);
  auto b64 = bias.detach().to(at::kDouble).requires_grad_(true);
  auto ref = at::softplus(at::linear(x64, w64, b64));
  EXPECT_LT(max_relative(h.detach(), ref.detach(), 1e-6), 1e-5);
  auto g_out = at::randn({3, 4, 13}, gen(33), at::kDouble);
  auto g = torch::autograd::grad({(h.to(at::kDouble) * g_out).sum()}, {x, weight, bias});
  auto g_ref = torch::autograd::grad({(ref * g_out).sum()}, {x64, w64, b64});
  for (int i = 0; i < 3; ++i) {
    EXPECT_LT((g[i].to(at::kDouble) - g_ref[i]).abs().max().item<double>(), 1e-5 * g_ref[i].abs().max().item<double>())
        << "input " << i;
  }
  auto images = at::rand({5, 11}, gen(34), at::kFloat);
  auto h2 = linear_softplus(images, weight, bias);
  auto gw = torch::autograd::grad({h2.sum()}, {weight})[0];
  auto gw_ref = torch::autograd::grad({at::softplus(at::linear(images, weight, bias)).sum()}, {weight})[0];
  EXPECT_TRUE(at::allclose(gw, gw_ref, 1e-5, 1e-5));
  EXPECT_THROW(linear_softplus(x, weight.t(), bias), std::invalid_argument);
}

TEST(FusedLinear, GivesAtenLinearsBitsInValueAndGradient) {
  // The node calls the BLAS with at::linear's arguments, so values and gradients agree exactly:
  // shapes of the VAE's loc and logits layers (a non-multiple of the kernels' block sizes), a
  // (particles, batch, in) input, and the graph-free path.
  for (const auto& shape : {std::vector<int64_t>{37, 400}, std::vector<int64_t>{3, 5, 29}}) {
    const int64_t in = shape.back(), out = in == 400 ? 50 : 23;
    auto x = at::randn(shape, gen(40), at::kFloat).requires_grad_(true);
    auto weight = at::randn({out, in}, gen(41), at::kFloat).requires_grad_(true);
    auto bias = at::randn({out}, gen(42), at::kFloat).requires_grad_(true);
    auto y = vae::linear(x, weight, bias);
    auto ref = at::linear(x, weight, bias);
    ASSERT_EQ(y.sizes(), ref.sizes());
    EXPECT_TRUE(at::equal(y, ref));
    auto g_out = at::randn(ref.sizes(), gen(43), at::kFloat);
    auto g = torch::autograd::grad({(y * g_out).sum()}, {x, weight, bias});
    auto g_ref = torch::autograd::grad({(ref * g_out).sum()}, {x, weight, bias});
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(at::equal(g[i], g_ref[i])) << "input " << i << ", in " << in;
    at::NoGradGuard no_grad;
    EXPECT_TRUE(at::equal(vae::linear(x.detach(), weight.detach(), bias.detach()), ref.detach()));
  }
  // Without gradient for the input (the encoder's images), only the weights' products.
  auto images = at::rand({9, 17}, gen(44), at::kFloat);
  auto weight = at::randn({6, 17}, gen(45), at::kFloat).requires_grad_(true);
  auto bias = at::randn({6}, gen(46), at::kFloat).requires_grad_(true);
  auto gw = torch::autograd::grad({vae::linear(images, weight, bias).square().sum()}, {weight})[0];
  auto gw_ref = torch::autograd::grad({at::linear(images, weight, bias).square().sum()}, {weight})[0];
  EXPECT_TRUE(at::equal(gw, gw_ref));
  // Other dtypes take at::linear; shapes that do not fit throw naming the shapes.
  auto x64 = at::randn({4, 17}, gen(47), at::kDouble);
  auto w64 = weight.detach().to(at::kDouble), b64 = bias.detach().to(at::kDouble);
  EXPECT_TRUE(at::equal(vae::linear(x64, w64, b64), at::linear(x64, w64, b64)));
  EXPECT_THROW(vae::linear(images, weight.t(), bias), std::invalid_argument);
}

TEST(WeightGradientScope, LinearNodesAddTheWeightGradientIntoTheBufferAndReturnIt) {
  auto x = at::randn({7, 5}, gen(50), at::kFloat).requires_grad_(true);
  auto w1 = at::randn({4, 5}, gen(51), at::kFloat).requires_grad_(true);
  auto w2 = at::randn({3, 4}, gen(52), at::kFloat).requires_grad_(true);
  auto b1 = at::randn({4}, gen(53), at::kFloat).requires_grad_(true);
  auto b2 = at::randn({3}, gen(54), at::kFloat).requires_grad_(true);
  auto loss = [&] { return vae::linear(linear_softplus(x, w1, b1), w2, b2).square().sum(); };
  const auto fresh = torch::autograd::grad({loss()}, {w1, w2});
  // Buffers holding a partial sum: the gradients are added to it, in the buffers themselves.
  Tensor buf1 = at::full({4, 5}, 0.25f), buf2 = at::full({3, 4}, -0.5f);
  std::vector<Tensor> into;
  {
    WeightGradientScope scope({w1, w2}, {buf1, buf2});
    into = torch::autograd::grad({loss()}, {w1, w2});
  }
  EXPECT_EQ(into[0].data_ptr(), buf1.data_ptr());
  EXPECT_EQ(into[1].data_ptr(), buf2.data_ptr());
  EXPECT_TRUE(at::allclose(buf1, fresh[0] + 0.25, 1e-5, 1e-5));
  EXPECT_TRUE(at::allclose(buf2, fresh[1] - 0.5, 1e-5, 1e-5));
  // Out of the scope, fresh tensors again; a buffer of another shape is refused.
  EXPECT_NE(torch::autograd::grad({loss()}, {w1})[0].data_ptr(), buf1.data_ptr());
  EXPECT_THROW(WeightGradientScope({w1}, {buf2}), std::invalid_argument);
}

TEST(WeightGradientScope, RecordsTheFirstWeightWhoseBufferIsNotFinite) {
  // Finite inputs whose product overflows: x and the output's gradient of 1e30 give weight
  // gradients near 1e60, infinite in float32, while the forward pass's values are all finite.
  auto w1 = at::full({2, 3}, 0.5f).requires_grad_(true);
  auto w2 = at::full({2, 2}, 1.0f).requires_grad_(true);
  auto b1 = at::zeros({2}).requires_grad_(true);
  auto b2 = at::zeros({2}).requires_grad_(true);
  auto gradients = [&](float scale, Tensor& buf1, Tensor& buf2) {
    WeightGradientScope scope({w1, w2}, {buf1, buf2});
    const Tensor y = vae::linear(vae::linear(at::full({4, 3}, scale), w1, b1), w2, b2);
    EXPECT_TRUE(y.isfinite().all().item<bool>());
    torch::autograd::grad({y}, {w1, w2}, {at::full({4, 2}, scale)});
    return scope.first_nonfinite();
  };
  Tensor buf1 = at::zeros({2, 3}), buf2 = at::zeros({2, 2});
  EXPECT_EQ(gradients(1.0f, buf1, buf2), -1);
  buf1.zero_();
  buf2.zero_();
  EXPECT_EQ(gradients(1e30f, buf1, buf2), 0);  // both overflow: the first by index
  EXPECT_FALSE(buf1.isfinite().all().item<bool>());
  EXPECT_FALSE(buf2.isfinite().all().item<bool>());
  // A NaN already in a buffer is found too: the check reads the whole accumulated buffer.
  buf1.zero_();
  buf2.zero_();
  buf2[1][1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(gradients(1.0f, buf1, buf2), 1);
}

TEST(WeightGradientScope, RowsOfADeferredProductAddTheWholeProductsRows) {
  // A worker's share of a deferred product: rows [a, b) of buffer += dy^T x, the same bits as
  // those rows of the whole product (the sum over each row's inputs runs in the same order),
  // the other rows untouched; rows outside the buffer throw.
  const Tensor dy = at::randn({64, 23}, gen(21)), x = at::randn({64, 31}, gen(22));
  const Tensor start = at::randn({23, 31}, gen(23));
  Tensor whole = start.clone(), pieces = start.clone();
  add_weight_gradient(dy, x, whole, 0, 23);
  EXPECT_TRUE(at::allclose(whole, start + at::mm(dy.t(), x), 1e-5, 1e-5));
  for (auto [a, b] : {std::pair<int64_t, int64_t>{17, 23}, {0, 5}, {5, 17}, {9, 9}})
    add_weight_gradient(dy, x, pieces, a, b);
  EXPECT_TRUE(at::equal(whole, pieces));
  Tensor part = start.clone();
  add_weight_gradient(dy, x, part, 5, 17);
  EXPECT_TRUE(at::equal(part.slice(0, 5, 17), whole.slice(0, 5, 17)));
  EXPECT_TRUE(at::equal(part.slice(0, 0, 5), start.slice(0, 0, 5)));
  EXPECT_TRUE(at::equal(part.slice(0, 17), start.slice(0, 17)));
  EXPECT_THROW(add_weight_gradient(dy, x, part, 20, 24), std::invalid_argument);
  EXPECT_THROW(add_weight_gradient(dy, x, part, 3, 2), std::invalid_argument);
}

TEST(WeightGradientScope, ADeferringScopeRecordsEachProductsLargestOutputGradient) {
  // The trainer bounds a deferred product's sums by rows * max|dy| * max|x| before it runs them;
  // max|dy| is taken when the product is recorded. A NaN in dy makes it infinite.
  auto w = at::randn({3, 5}, gen(31)).requires_grad_(true);
  auto b = at::zeros({3}).requires_grad_(true);
  const Tensor x = at::randn({4, 5}, gen(32));
  for (bool nan : {false, true}) {
    Tensor upstream = at::randn({4, 3}, gen(33));
    if (nan) upstream[2][1] = std::numeric_limits<float>::quiet_NaN();
    Tensor buffer = at::zeros({3, 5});
    WeightGradientScope scope({w}, {buffer}, /*defer=*/true);
    torch::autograd::grad({vae::linear(x, w, b)}, {w}, {upstream});
    const auto deferred = scope.take_deferred();
    ASSERT_EQ(deferred.size(), 1u);
    EXPECT_EQ(deferred[0].index, 0u);
    if (nan) {
      EXPECT_EQ(deferred[0].dy_max_abs, std::numeric_limits<double>::infinity());
    } else {
      EXPECT_EQ(deferred[0].dy_max_abs, upstream.abs().max().item<double>());
    }
    EXPECT_TRUE(at::equal(buffer, at::zeros({3, 5})));  // nothing run yet
  }
}
