// Conditional flows (log-determinants against autograd Jacobians, the autoregressive
// structure), the deep-set encoder's permutation invariance and the batch sampler.
#include "amortize/pavi/batching.hpp"
#include "amortize/pavi/conditional_flow.hpp"
#include "amortize/pavi/set_encoder.hpp"
#include "numeric_checks.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "test_tensors.hpp"

#include <cmath>
#include <set>

using namespace amortize;
using namespace amortize::pavi;
using namespace pavi_tests;

namespace {

// log|det J| of f against the autograd Jacobian at random points (and, when asked, J lower
// triangular); batched rows give the per-row results.
::testing::AssertionResult log_det_matches_jacobian(
    torch::nn::Module& layer_module, const std::function<std::pair<Tensor, Tensor>(const Tensor&, const Tensor&)>& f,
    int64_t dim, int64_t context_dim, bool lower_triangular_jacobian) {
  perturb(layer_module, 7);
  auto g = gen(5);
  for (int rep = 0; rep < 3; ++rep) {
    Tensor u = at::randn({dim}, g, f64());
    Tensor c = at::randn({context_dim}, g, f64());
    Tensor jac = amortize::testing::autograd_jacobian([&](const Tensor& x) { return f(x, c).first; }, u);
    const double expected = std::get<1>(at::linalg_slogdet(jac)).item<double>();
    const double got = f(u, c).second.item<double>();
    if (!(std::abs(got - expected) <= 1e-9)) {
      return ::testing::AssertionFailure() << "log-det " << got << " != log|det J| " << expected << " at draw " << rep;
    }
    if (lower_triangular_jacobian && at::triu(jac, 1).abs().max().item<double>() != 0.0) {
      return ::testing::AssertionFailure() << "Jacobian not lower triangular at draw " << rep << ":\n" << jac;
    }
  }
  Tensor u = at::randn({4, dim}, g, f64());
  Tensor c = at::randn({4, context_dim}, g, f64());
  auto [z, ld] = f(u, c);
  for (int64_t i = 0; i < 4; ++i) {
    auto [zi, ldi] = f(u[i], c[i]);
    if (!at::allclose(z[i], zi, 1e-12, 1e-12) || std::abs(ld[i].item<double>() - ldi.item<double>()) > 1e-12) {
      return ::testing::AssertionFailure() << "batched row " << i << " differs from its own evaluation";
    }
  }
  return ::testing::AssertionSuccess();
}
}  // namespace

TEST(ConditionalAffine, LogDetMatchesJacobianDiagonalAndLowerTriangular) {
  for (bool lower : {false, true}) {
    ConditionalAffine layer(3, 2, 8, lower, 0.3, gen(1));
    layer->to(at::kDouble);
    EXPECT_TRUE(log_det_matches_jacobian(
        *layer, [&](const Tensor& u, const Tensor& c) { return layer->forward(u, c); }, 3, 2, true))
        << "lower " << lower;
  }
}

TEST(ConditionalAffine, StartsAtTheRequestedScale) {
  ConditionalAffine layer(2, 3, 8, false, 0.25, gen(2));
  layer->to(at::kDouble);
  Tensor c = at::zeros({3}, f64());
  Tensor u = at::ones({2}, f64());
  auto [z, ld] = layer->forward(u, c);
  // At a zero context only the biases act: the output layer starts at zero, the skip's bias is
  // small, so the scale is softplus(offset + skip bias) ~ 0.25.
  EXPECT_NEAR(std::exp(ld.item<double>() / 2), 0.25, 0.25 * 0.8);
}

TEST(ConditionalAutoregressive, IsAutoregressiveAndItsLogDetMatchesTheJacobian) {
  for (bool reverse : {false, true}) {
    ConditionalAutoregressive layer(4, 3, 16, reverse, gen(3));
    layer->to(at::kDouble);
    auto f = [&](const Tensor& u, const Tensor& c) { return layer->forward(u, c); };
    // In the reversed order the Jacobian is upper triangular: check it through flipped inputs.
    if (!reverse) {
      EXPECT_TRUE(log_det_matches_jacobian(*layer, f, 4, 3, true));
    } else {
      EXPECT_TRUE(log_det_matches_jacobian(
          *layer,
          [&](const Tensor& u, const Tensor& c) {
            auto [z, ld] = layer->forward(u.flip(-1), c);
            return std::make_pair(z.flip(-1), ld);
          },
          4, 3, true));
    }
  }
}

TEST(ConditionalFlow, StackedLayersAddTheirLogDets) {
  ConditionalFlowOptions o;
  o.affine_layers = 2;
  o.autoregressive_layers = 2;
  o.lower_triangular = true;
  ConditionalFlow flow(3, 4, o, gen(4));
  flow->to(at::kDouble);
  EXPECT_TRUE(log_det_matches_jacobian(
      *flow, [&](const Tensor& u, const Tensor& c) { return flow->forward(u, c); }, 3, 4, false));
}

TEST(BroadcastCat, BroadcastsBatchShapesAndConcatenates) {
  Tensor a = at::zeros({5, 2});
  Tensor b = at::ones({3, 1, 4});
  Tensor out = broadcast_cat({a, b}, {});
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{3, 5, 6}));
  EXPECT_EQ(out.narrow(-1, 2, 4).min().item<double>(), 1.0);
  EXPECT_EQ(broadcast_cat({at::zeros({2})}, {7, 1}).sizes(), (std::vector<int64_t>{7, 1, 2}));
}

TEST(DeepSetEncoder, IsInvariantToTheOrderOfObservations) {
  DeepSetEncoder enc(2, 5, 16, gen(6));
  enc->to(at::kDouble);
  auto g = gen(7);
  Tensor x = at::randn({3, 7, 2}, g, f64());
  Tensor perm = at::randperm(7, g, at::TensorOptions().dtype(at::kLong));
  Tensor e = enc->forward(x);
  EXPECT_EQ(e.sizes(), (std::vector<int64_t>{3, 5}));
  EXPECT_TRUE(at::allclose(e, enc->forward(x.index_select(1, perm)), 1e-12, 1e-12));
  // ... but not constant: different sets get different encodings.
  EXPECT_GT((e[0] - e[1]).abs().max().item<double>(), 1e-3);
  EXPECT_THROW(enc->forward(at::zeros({3, 7, 4}, f64())), std::invalid_argument);
}

TEST(SampleWithoutReplacement, DistinctInRangeAndUniform) {
  auto g = gen(8);
  const int64_t n = 50, k = 5, reps = 20000;
  Tensor counts = at::zeros({n}, f64());
  for (int64_t r = 0; r < reps; ++r) {
    Tensor idx = sample_without_replacement(n, k, g);
    ASSERT_EQ(idx.numel(), k);
    std::set<int64_t> seen(idx.data_ptr<int64_t>(), idx.data_ptr<int64_t>() + k);
    ASSERT_EQ(static_cast<int64_t>(seen.size()), k);
    ASSERT_GE(*seen.begin(), 0);
    ASSERT_LT(*seen.rbegin(), n);
    counts.index_add_(0, idx, at::ones({k}, f64()));
  }
  // Each element is included with probability k / n: counts ~ Binomial(reps, 0.1), sd 42.4.
  const double expected = reps * 0.1, sd = std::sqrt(reps * 0.1 * 0.9);
  EXPECT_LT((counts - expected).abs().max().item<double>(), 4.5 * sd);
  // The first position is uniform too (the order is shuffled).
  Tensor first = at::zeros({n}, f64());
  for (int64_t r = 0; r < reps; ++r) first[sample_without_replacement(n, k, g)[0].item<int64_t>()] += 1;
  const double e1 = reps / 50.0, sd1 = std::sqrt(reps * 0.02 * 0.98);
  EXPECT_LT((first - e1).abs().max().item<double>(), 4.5 * sd1);
  EXPECT_TRUE(at::equal(sample_without_replacement(4, 4, g), at::arange(4, at::TensorOptions().dtype(at::kLong))));
  EXPECT_THROW(sample_without_replacement(4, 5, g), std::invalid_argument);
}

TEST(ConditionalAffine, LinearConditionerAndZeroedContextWeights) {
  ConditionalFlowOptions o;
  o.linear_affine = true;
  o.autoregressive_layers = 1;
  ConditionalFlow flow(2, 3, o, gen(9));
  flow->to(at::kDouble);
  // No hidden layer in the affine layer; the log-det still matches the Jacobian.
  EXPECT_TRUE(log_det_matches_jacobian(
      *flow, [&](const Tensor& u, const Tensor& c) { return flow->forward(u, c); }, 2, 3, false));
  // Zeroed weights on context entries 1.. : changing those entries changes nothing.
  flow->zero_context_weights(1);
  auto g = gen(10);
  Tensor u = at::randn({5, 2}, g, f64());
  Tensor c = at::randn({5, 3}, g, f64());
  Tensor c2 = c.clone();
  c2.narrow(1, 1, 2).add_(3.0);
  EXPECT_TRUE(at::equal(flow->forward(u, c).first, flow->forward(u, c2).first));
  Tensor c3 = c.clone();
  c3.narrow(1, 0, 1).add_(3.0);
  EXPECT_FALSE(at::allclose(flow->forward(u, c).first, flow->forward(u, c3).first));
}

TEST(EpochBatches, EveryEpochVisitsEachElementOnceInARandomOrder) {
  auto g = gen(11);
  const int64_t n = 40, b = 8, epochs = 2000;
  EpochBatches batches(n);
  Tensor first_batch_counts = at::zeros({n}, f64());
  for (int64_t e = 0; e < epochs; ++e) {
    std::set<int64_t> seen;
    for (int64_t i = 0; i < n / b; ++i) {
      Tensor idx = batches.next(b, g);
      ASSERT_EQ(idx.numel(), b);
      seen.insert(idx.data_ptr<int64_t>(), idx.data_ptr<int64_t>() + b);
      if (i == 0) first_batch_counts.index_add_(0, idx, at::ones({b}, f64()));
    }
    ASSERT_EQ(static_cast<int64_t>(seen.size()), n) << "epoch " << e;
    ASSERT_EQ(batches.epochs(), e + 1);
  }
  // Each epoch's order is fresh: an element is in the first batch with probability b / n,
  // counts ~ Binomial(2000, 0.2), sd 17.9.
  const double expected = epochs * 0.2, sd = std::sqrt(epochs * 0.2 * 0.8);
  EXPECT_LT((first_batch_counts - expected).abs().max().item<double>(), 4.5 * sd);
  // A batch that does not divide the plate: the tail is skipped, batches stay distinct.
  EpochBatches odd(10);
  Tensor a = odd.next(4, g), c = odd.next(4, g), d = odd.next(4, g);
  EXPECT_EQ(odd.epochs(), 2);
  EXPECT_EQ(std::get<0>(at::_unique(d)).numel(), 4);
  EXPECT_THROW(odd.next(11, g), std::invalid_argument);
}

TEST(EpochBatches, StateRoundTripContinuesTheSameSweep) {
  auto g1 = gen(12);
  EpochBatches a(30);
  for (int i = 0; i < 4; ++i) a.next(7, g1);
  auto saved_state = a.state();
  const Tensor saved_gen = g1.get_state();
  std::vector<Tensor> expected;
  for (int i = 0; i < 6; ++i) expected.push_back(a.next(7, g1));
  EpochBatches b(30);
  b.load_state(saved_state);
  auto g2 = gen(99);
  g2.set_state(saved_gen);
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(at::equal(b.next(7, g2), expected[static_cast<size_t>(i)])) << i;
  EpochBatches wrong(31);
  EXPECT_THROW(wrong.load_state(saved_state), std::invalid_argument);
}

TEST(ConditionalFlow, AffineStacksAreTheirConditionalGaussian) {
  // gaussian(context) = (shift, L) with z = shift + L u exactly, for single and stacked affine
  // layers, diagonal or lower triangular; no closed form once an autoregressive layer is in.
  for (bool lower : {false, true}) {
    for (int64_t layers : {1, 2}) {
      ConditionalFlowOptions o;
      o.affine_layers = layers;
      o.lower_triangular = lower;
      o.hidden = 8;
      ConditionalFlow flow(3, 4, o, gen(9));
      flow->to(at::kDouble);
      perturb(*flow, 10);
      auto g = gen(11);
      Tensor u = at::randn({5, 3}, g, f64()), c = at::randn({5, 4}, g, f64());
      auto gaussian = flow->gaussian(c);
      ASSERT_TRUE(gaussian.has_value());
      auto [shift, factor] = *gaussian;
      auto [z, log_det] = flow->forward(u, c);
      EXPECT_TRUE(at::allclose(z, shift + at::matmul(factor, u.unsqueeze(-1)).squeeze(-1), 1e-10, 1e-10));
      EXPECT_TRUE(at::allclose(log_det, at::diagonal(factor, 0, -2, -1).log().sum(-1), 1e-10, 1e-10));
      EXPECT_EQ(at::triu(factor, 1).abs().max().item<double>(), 0.0);
    }
  }
  ConditionalFlowOptions o;
  o.autoregressive_layers = 1;
  ConditionalFlow flow(3, 4, o, gen(9));
  EXPECT_FALSE(flow->gaussian(at::zeros({4})).has_value());
}
