#include "amortize/dist/discrete/bernoulli.hpp"

#include "discrete_test_support.hpp"

#include <cmath>
#include <limits>

using namespace amortize;
using namespace amortize::dist;
using namespace amortize::testing;

namespace {
const double kInf = std::numeric_limits<double>::infinity();

// log sigmoid(l) in double without overflow.
double log_sigmoid(double l) { return l >= 0 ? -std::log1p(std::exp(-l)) : l - std::log1p(std::exp(l)); }

::testing::AssertionResult log_prob_matches(double actual, double expected, double rel) {
  return is_near_relative(actual, expected, rel, 1e-300);
}
}  // namespace

TEST(Bernoulli, LogProbFromProbsMatchesClosedFormIncludingEdges) {
  for (double p : {0.0, 1e-300, 1e-12, 0.2, 0.5, 1 - 1e-9, 1.0}) {
    auto d = Bernoulli::from_probs(at::scalar_tensor(p, f64()));
    EXPECT_TRUE(log_prob_matches(d.log_prob(at::scalar_tensor(1.0, f64())).item<double>(), p == 0 ? -kInf : std::log(p),
                                 1e-14));
    EXPECT_TRUE(log_prob_matches(d.log_prob(at::scalar_tensor(0.0, f64())).item<double>(),
                                 p == 1 ? -kInf : std::log1p(-p), 1e-12));
  }
}

TEST(Bernoulli, LogProbFromLogitsIsStableAtExtremes) {
  for (double l : {-100.0, -30.0, -2.0, 0.0, 0.7, 30.0, 100.0}) {
    auto d = Bernoulli::from_logits(at::scalar_tensor(l, f64()));
    EXPECT_TRUE(log_prob_matches(d.log_prob(at::scalar_tensor(1.0, f64())).item<double>(), log_sigmoid(l), 1e-14));
    EXPECT_TRUE(log_prob_matches(d.log_prob(at::scalar_tensor(0.0, f64())).item<double>(), log_sigmoid(-l), 1e-14));
    auto f = Bernoulli::from_logits(at::scalar_tensor(l, at::kFloat));
    for (double x : {0.0, 1.0}) {
      const float lp = f.log_prob(at::scalar_tensor(x, at::kFloat)).item<float>();
      EXPECT_TRUE(std::isfinite(lp));
      EXPECT_NEAR(lp, log_sigmoid(x == 1 ? l : -l), 1e-6 * std::abs(log_sigmoid(x == 1 ? l : -l)) + 1e-7);
    }
  }
}

TEST(Bernoulli, KeepsBothParameterisationsConsistent) {
  auto probs = at::tensor({0.1, 0.5, 0.9}, f64());
  auto from_p = Bernoulli::from_probs(probs);
  auto from_l = Bernoulli::from_logits(at::log(probs) - at::log1p(-probs));
  EXPECT_TRUE(at::allclose(from_p.logits(), from_l.logits(), 1e-12, 1e-12));
  EXPECT_TRUE(at::allclose(from_p.probs(), from_l.probs(), 1e-12, 1e-12));
  EXPECT_EQ(from_p.parameterization(), ProbsOrLogits::Probs);
  EXPECT_EQ(from_l.parameterization(), ProbsOrLogits::Logits);
  auto x = at::tensor({1.0, 0.0, 1.0}, f64());
  EXPECT_TRUE(at::allclose(from_p.log_prob(x), from_l.log_prob(x), 1e-12, 1e-12));
  // Tag constructor is the same as the factories.
  EXPECT_TRUE(at::allclose(Bernoulli(probs, ProbsOrLogits::Probs).log_prob(x), from_p.log_prob(x)));
}

TEST(Bernoulli, GradientsMatchFiniteDifferences) {
  auto x = at::tensor({1.0, 0.0, 1.0, 0.0}, f64());
  auto probs = at::tensor({0.2, 0.3, 0.85, 0.6}, f64());
  auto lp_p = [&](const at::Tensor& p) { return Bernoulli::from_probs(p).log_prob(x); };
  EXPECT_TRUE(at::allclose(autograd_gradient(lp_p, probs), finite_difference_gradient(lp_p, probs), 1e-6, 1e-6));
  auto logits = at::tensor({-3.0, 0.4, 2.0, 7.0}, f64());
  auto lp_l = [&](const at::Tensor& l) { return Bernoulli::from_logits(l).log_prob(x); };
  EXPECT_TRUE(at::allclose(autograd_gradient(lp_l, logits), finite_difference_gradient(lp_l, logits), 1e-6, 1e-6));
  auto ent = [&](const at::Tensor& l) { return Bernoulli::from_logits(l).entropy(); };
  EXPECT_TRUE(at::allclose(autograd_gradient(ent, logits), finite_difference_gradient(ent, logits), 1e-6, 1e-6));
}

TEST(Bernoulli, GradientAtProbabilityEdgesIsFinite) {
  // d/dp log(1 - p) = -1/(1 - p) = -1 at p = 0; d/dp log p = 1 at p = 1.
  auto lp0 = [](const at::Tensor& p) { return Bernoulli::from_probs(p).log_prob(at::zeros({1}, f64())); };
  EXPECT_NEAR(autograd_gradient(lp0, at::zeros({1}, f64())).item<double>(), -1.0, 1e-12);
  auto lp1 = [](const at::Tensor& p) { return Bernoulli::from_probs(p).log_prob(at::ones({1}, f64())); };
  EXPECT_NEAR(autograd_gradient(lp1, at::ones({1}, f64())).item<double>(), 1.0, 1e-12);
  // The derived logits are -inf and +inf at the edges, without NaN.
  auto edges = Bernoulli::from_probs(at::tensor({0.0, 1.0}, f64()));
  EXPECT_EQ(edges.logits()[0].item<double>(), -INFINITY);
  EXPECT_EQ(edges.logits()[1].item<double>(), INFINITY);
}

TEST(Bernoulli, SampleFrequenciesMatchProbabilities) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  const std::vector<double> ps = {0.0, 0.1, 0.5, 0.93, 1.0};
  auto d = Bernoulli::from_probs(at::tensor(ps, at::kFloat));
  auto xs = d.sample({20000}, gen);
  EXPECT_EQ(xs.sizes(), (at::IntArrayRef{20000, 5}));
  EXPECT_EQ(xs.scalar_type(), at::kFloat);
  for (size_t i = 0; i < ps.size(); ++i) {
    EXPECT_TRUE(frequencies_match(xs.select(1, i), {1 - ps[i], ps[i]})) << "column " << i;
  }
  // Same seed, same draws.
  auto again = d.sample({20000}, at::make_generator<at::CPUGeneratorImpl>(7));
  EXPECT_TRUE(at::equal(xs, again));
}

TEST(Bernoulli, MomentsAndEntropyMatchClosedForm) {
  for (double p : {0.0, 0.05, 0.5, 0.7, 1.0}) {
    auto d = Bernoulli::from_probs(at::scalar_tensor(p, f64()));
    EXPECT_DOUBLE_EQ(d.mean().item<double>(), p);
    EXPECT_NEAR(d.variance().item<double>(), p * (1 - p), 1e-15);
    const double h = -((p > 0 ? p * std::log(p) : 0.0) + (p < 1 ? (1 - p) * std::log1p(-p) : 0.0));
    EXPECT_NEAR(d.entropy().item<double>(), h, 1e-14);
  }
  for (double l : {-100.0, -5.0, 0.0, 3.0, 100.0}) {
    auto d = Bernoulli::from_logits(at::scalar_tensor(l, f64()));
    const double p = std::exp(log_sigmoid(l));
    const double h = -(p * log_sigmoid(l) + (1 - p) * log_sigmoid(-l));
    EXPECT_NEAR(d.entropy().item<double>(), h, 1e-12 * h + 1e-300);
    auto f = Bernoulli::from_logits(at::scalar_tensor(l, at::kFloat));
    EXPECT_NEAR(f.entropy().item<float>(), h, 1e-6 * h + 1e-7);
  }
}

TEST(Bernoulli, EnumerateSupportCoversTheMass) {
  auto d = Bernoulli::from_logits(matrix({{-1.0, 2.0, 0.0}}, f64()));
  auto values = d.enumerate_support();
  EXPECT_EQ(values.sizes(), (at::IntArrayRef{2, 1, 3}));
  EXPECT_EQ(d.enumerate_support(false).sizes(), (at::IntArrayRef{2, 1, 1}));
  EXPECT_TRUE(at::allclose(d.log_prob(values).exp().sum(0), at::ones({1, 3}, f64()), 1e-14, 1e-14));
  EXPECT_EQ(values[1][0][2].item<double>(), 1.0);
}

TEST(Bernoulli, ExpandsAndBroadcasts) {
  auto d = Bernoulli::from_probs(at::tensor({0.3}, f64()));
  auto e = d.expand({4, 1});
  EXPECT_EQ(e->batch_shape(), (Shape{4, 1}));
  EXPECT_EQ(e->log_prob(at::ones({2, 4, 1}, f64())).sizes(), (at::IntArrayRef{2, 4, 1}));
  EXPECT_EQ(e->type_name(), "Bernoulli");
  auto two = Bernoulli::from_probs(at::tensor({0.3, 0.6}, f64()));
  EXPECT_TRUE(throws_error([&] { two.expand({3}); }, "Bernoulli: cannot expand batch shape (2) to (3)"));
  EXPECT_FALSE(d.has_rsample());
  EXPECT_TRUE(d.is_discrete());
}

TEST(Bernoulli, FractionalValuesGiveCrossEntropyWhenValidationIsOff) {
  set_validation(false);
  auto d = Bernoulli::from_logits(at::scalar_tensor(0.8, f64()));
  const double lp = d.log_prob(at::scalar_tensor(0.3, f64())).item<double>();
  set_validation(true);
  EXPECT_NEAR(lp, 0.3 * log_sigmoid(0.8) + 0.7 * log_sigmoid(-0.8), 1e-14);
}

TEST(Bernoulli, RejectsBadArgumentsNamingThem) {
  EXPECT_TRUE(throws_error(
      [] {
        Bernoulli::from_probs(at::tensor({0.5, 1.5}, f64()));
      },
      "Bernoulli: probs must be in [0, 1], got 1.5 at index [1]"));
  EXPECT_TRUE(throws_error([] { Bernoulli::from_probs(-0.25); }, "Bernoulli: probs must be in [0, 1], got -0.25"));
  EXPECT_TRUE(throws_error(
      [] {
        Bernoulli::from_logits(at::tensor({0.0, NAN}, f64()));
      },
      "Bernoulli: logits must not be NaN, got nan at index [1]"));
  auto d = Bernoulli::from_probs(0.3);
  EXPECT_TRUE(
      throws_error([&] { d.log_prob(at::scalar_tensor(0.5)); }, "Bernoulli: value outside the support boolean"));
  EXPECT_TRUE(
      throws_error([&] { d.log_prob(at::scalar_tensor(2.0)); }, "Bernoulli: value outside the support boolean"));
}
