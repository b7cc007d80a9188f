#include "amortize/dist/discrete/binomial.hpp"

#include "discrete_test_support.hpp"

#include <cmath>
#include <limits>

using namespace amortize;
using namespace amortize::dist;
using namespace amortize::testing;

namespace {
const double kInf = std::numeric_limits<double>::infinity();

double log_choose(double n, double k) { return std::lgamma(n + 1) - std::lgamma(k + 1) - std::lgamma(n - k + 1); }

// log C(n, k) + k log p + (n - k) log(1 - p), with 0 log 0 = 0; log p and log(1 - p) given.
double binomial_lpmf(double n, double k, double log_p, double log_q) {
  const double a = k == 0 ? 0.0 : k * log_p;
  const double b = n - k == 0 ? 0.0 : (n - k) * log_q;
  return log_choose(n, k) + a + b;
}

double log_sigmoid(double l) { return l >= 0 ? -std::log1p(std::exp(-l)) : l - std::log1p(std::exp(l)); }

::testing::AssertionResult log_prob_matches(double actual, double expected) {
  return is_near_relative(actual, expected, 1e-12, 1e-12);
}
}  // namespace

TEST(Binomial, LogProbFromProbsMatchesClosedFormIncludingEdges) {
  for (double n : {0.0, 1.0, 5.0, 20.0, 1000.0}) {
    for (double p : {0.0, 1e-10, 0.3, 0.5, 0.999, 1.0}) {
      auto d = Binomial::from_probs(n, at::scalar_tensor(p, f64()));
      for (double k : {0.0, 1.0, std::floor(n / 3), n - 1, n}) {
        if (k < 0 || k > n) continue;
        const double expected = binomial_lpmf(n, k, p == 0 ? -kInf : std::log(p), p == 1 ? -kInf : std::log1p(-p));
        EXPECT_TRUE(log_prob_matches(d.log_prob(at::scalar_tensor(k, f64())).item<double>(), expected));
      }
    }
  }
}

TEST(Binomial, LogProbFromLogitsIsStableAtExtremes) {
  for (double n : {1.0, 7.0, 300.0}) {
    for (double l : {-100.0, -20.0, -1.5, 0.0, 2.0, 20.0, 100.0}) {
      auto d = Binomial::from_logits(at::scalar_tensor(n, f64()), at::scalar_tensor(l, f64()));
      auto f = Binomial::from_logits(n, at::scalar_tensor(l, at::kFloat));
      for (double k : {0.0, 1.0, std::floor(n / 2), n}) {
        const double expected = binomial_lpmf(n, k, log_sigmoid(l), log_sigmoid(-l));
        EXPECT_TRUE(log_prob_matches(d.log_prob(at::scalar_tensor(k, f64())).item<double>(), expected));
        const float lp = f.log_prob(at::scalar_tensor(k, at::kFloat)).item<float>();
        EXPECT_TRUE(std::isfinite(lp));
        // float32 rounding of each term: lgamma(n+1), lgamma(k+1), lgamma(n-k+1) and the likelihood.
        const double magnitude = std::lgamma(n + 1) + std::lgamma(k + 1) + std::lgamma(n - k + 1) +
                                 std::abs(k * log_sigmoid(l)) + std::abs((n - k) * log_sigmoid(-l));
        EXPECT_NEAR(lp, expected, 2 * 1.2e-7 * magnitude + 1e-6);
      }
    }
  }
}

TEST(Binomial, ProbabilitiesSumToOneInFloat32) {
  auto d = Binomial::from_probs(50.0, at::tensor({0.02, 0.5, 0.97}, at::kFloat));
  auto k = at::arange(51, at::kFloat).unsqueeze(-1);
  auto total = d.log_prob(k).exp().sum(0);
  EXPECT_TRUE(at::allclose(total, at::ones({3}), 1e-5, 1e-5)) << total;
}

TEST(Binomial, GradientsMatchFiniteDifferences) {
  auto k = at::tensor({0.0, 3.0, 10.0, 6.0}, f64());
  auto n = at::tensor({10.0, 10.0, 10.0, 12.0}, f64());
  auto probs = at::tensor({0.2, 0.35, 0.9, 0.5}, f64());
  auto lp_p = [&](const at::Tensor& p) { return Binomial::from_probs(n, p).log_prob(k); };
  EXPECT_TRUE(at::allclose(autograd_gradient(lp_p, probs), finite_difference_gradient(lp_p, probs), 1e-6, 1e-6));
  auto logits = at::tensor({-2.0, 0.3, 4.0, -0.7}, f64());
  auto lp_l = [&](const at::Tensor& l) { return Binomial::from_logits(n, l).log_prob(k); };
  EXPECT_TRUE(at::allclose(autograd_gradient(lp_l, logits), finite_difference_gradient(lp_l, logits), 1e-6, 1e-6));
  // At p = 0 with k = 0: d/dp n log(1 - p) = -n.
  auto at_zero = [&](const at::Tensor& p) { return Binomial::from_probs(7.0, p).log_prob(at::zeros({1}, f64())); };
  EXPECT_NEAR(autograd_gradient(at_zero, at::zeros({1}, f64())).item<double>(), -7.0, 1e-12);
}

TEST(Binomial, SampleFrequenciesMatchTheMassFunction) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  const double n = 10, p = 0.3;
  auto d = Binomial::from_probs(n, at::scalar_tensor(p, f64()));
  auto xs = d.sample({40000}, gen);
  EXPECT_EQ(xs.scalar_type(), at::kDouble);
  std::vector<double> pmf;
  for (int k = 0; k <= 10; ++k) pmf.push_back(std::exp(binomial_lpmf(n, k, std::log(p), std::log1p(-p))));
  EXPECT_TRUE(frequencies_match(xs, pmf));
}

TEST(Binomial, SampleMomentsMatchMeanAndVarianceOverABatch) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(12);
  auto d = Binomial::from_logits(at::tensor({3.0, 40.0, 200.0}, at::kFloat), at::tensor({-1.0, 0.5, 2.0}, at::kFloat));
  auto xs = d.sample({20000}, gen);
  EXPECT_EQ(xs.sizes(), (at::IntArrayRef{20000, 3}));
  for (int64_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(moments_match(xs.select(1, i), d.mean()[i].item<double>(), d.variance()[i].item<double>()));
  }
  EXPECT_TRUE((xs >= 0).all().item<bool>());
  EXPECT_TRUE((xs <= at::tensor({3.0, 40.0, 200.0})).all().item<bool>());
  // Edges: p = 0 gives 0, p = 1 gives n.
  auto edges = Binomial::from_probs(at::tensor({5.0, 5.0}, f64()), at::tensor({0.0, 1.0}, f64())).sample({100}, gen);
  EXPECT_TRUE(at::equal(edges, at::tensor({0.0, 5.0}, f64()).expand({100, 2})));
}

TEST(Binomial, MeanVarianceAndMissingEntropy) {
  auto d = Binomial::from_probs(at::tensor({4.0, 9.0}, f64()), at::tensor({0.25, 0.6}, f64()));
  EXPECT_TRUE(at::allclose(d.mean(), at::tensor({1.0, 5.4}, f64())));
  EXPECT_TRUE(at::allclose(d.variance(), at::tensor({0.75, 9 * 0.6 * 0.4}, f64())));
  EXPECT_TRUE(throws_error([&] { d.entropy(); }, "Binomial: entropy is not available"));
  EXPECT_EQ(d.support().name(), "integer_interval");
  auto inside = d.support().check(at::tensor({4.0, 9.0}, f64()));
  EXPECT_TRUE(inside[0].item<bool>() && inside[1].item<bool>());
  auto beyond = d.support().check(at::tensor({5.0, 9.0}, f64()));
  EXPECT_TRUE(!beyond[0].item<bool>() && beyond[1].item<bool>());
}

TEST(Binomial, ExpandsKeepingTotalCount) {
  auto d = Binomial::from_logits(at::tensor({3.0, 6.0}, f64()), 0.0);
  auto e = d.expand({5, 2});
  EXPECT_EQ(e->batch_shape(), (Shape{5, 2}));
  EXPECT_TRUE(at::allclose(e->mean(), at::tensor({1.5, 3.0}, f64()).expand({5, 2})));
}

TEST(Binomial, RejectsBadArgumentsNamingThem) {
  EXPECT_TRUE(throws_error(
      [] {
        Binomial::from_probs(at::tensor({3.0, -1.0}, f64()), 0.5);
      },
      "Binomial: total_count must be non-negative, got -1 at index [1]"));
  EXPECT_TRUE(
      throws_error([] { Binomial::from_probs(2.5, 0.5); }, "Binomial: total_count must be an integer, got 2.5"));
  EXPECT_TRUE(throws_error(
      [] {
        Binomial::from_probs(4.0, at::tensor({0.1, 1.2}, f64()));
      },
      "Binomial: probs must be in [0, 1], got 1.2 at index [1]"));
  EXPECT_TRUE(
      throws_error([] { Binomial::from_logits(4.0, at::tensor({NAN}, f64())); }, "Binomial: logits must not be NaN"));
  auto d = Binomial::from_probs(5.0, 0.5);
  EXPECT_TRUE(throws_error([&] { d.log_prob(at::scalar_tensor(6.0)); },
                           "Binomial: value outside the support integer_interval"));
  EXPECT_TRUE(throws_error([&] { d.log_prob(at::scalar_tensor(2.5)); },
                           "Binomial: value outside the support integer_interval"));
  EXPECT_TRUE(throws_error([&] { d.log_prob(at::scalar_tensor(-1.0)); },
                           "Binomial: value outside the support integer_interval"));
}
