#include "amortize/dist/discrete/bernoulli.hpp"
#include "amortize/dist/discrete/binomial.hpp"
#include "amortize/dist/discrete/categorical.hpp"
#include "amortize/dist/discrete/poisson.hpp"
#include "amortize/dist/kl/kl_divergence.hpp"
#include "discrete_test_support.hpp"

#include <cmath>
#include <limits>

using namespace amortize;
using namespace amortize::dist;
using namespace amortize::testing;

namespace {
const double kInf = std::numeric_limits<double>::infinity();

// sum_x P(x) (log P(x) - log Q(x)) over an enumerated support: 0 where P = 0, +inf where Q = 0 < P.
double exact_kl(const std::vector<double>& p, const std::vector<double>& q) {
  double kl = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == 0) continue;
    if (q[i] == 0) return kInf;
    kl += p[i] * (std::log(p[i]) - std::log(q[i]));
  }
  return kl;
}

// The same from log-probabilities (no underflow in far tails): -inf marks zero mass.
double exact_kl_from_logs(const std::vector<double>& log_p, const std::vector<double>& log_q) {
  double kl = 0;
  for (size_t i = 0; i < log_p.size(); ++i) {
    if (std::isinf(log_p[i])) continue;
    if (std::isinf(log_q[i])) return kInf;
    kl += std::exp(log_p[i]) * (log_p[i] - log_q[i]);
  }
  return kl;
}

::testing::AssertionResult kl_matches(double actual, double expected) {
  return is_near_relative(actual, expected, 1e-10, 1e-13);
}

std::vector<double> binomial_pmf(int n, double p) {
  std::vector<double> out;
  for (int k = 0; k <= n; ++k) {
    const double a = k == 0 ? 0.0 : k * std::log(p);
    const double b = n == k ? 0.0 : (n - k) * std::log1p(-p);
    out.push_back(std::exp(std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0) + a + b));
  }
  return out;
}
}  // namespace

TEST(DiscreteKL, BernoulliMatchesEnumerationIncludingEdges) {
  const std::vector<double> ps = {0.0, 1e-8, 0.2, 0.5, 0.9, 1.0};
  for (double p : ps) {
    for (double q : ps) {
      auto a = Bernoulli::from_probs(at::scalar_tensor(p, f64()));
      auto b = Bernoulli::from_probs(at::scalar_tensor(q, f64()));
      ASSERT_TRUE(has_kl(a, b));
      EXPECT_TRUE(kl_matches(kl_divergence(a, b).item<double>(), exact_kl({1 - p, p}, {1 - q, q})));
    }
  }
  // Extreme logits: KL(sigmoid(100) || sigmoid(-100)) = (1 - e^-100) * 100 + e^-100 * (-100) = 100 to double precision.
  auto a = Bernoulli::from_logits(at::scalar_tensor(100.0, f64()));
  auto b = Bernoulli::from_logits(at::scalar_tensor(-100.0, f64()));
  EXPECT_NEAR(kl_divergence(a, b).item<double>(), 100.0, 1e-12);
  auto af = Bernoulli::from_logits(at::scalar_tensor(100.0, at::kFloat));
  auto bf = Bernoulli::from_logits(at::scalar_tensor(-100.0, at::kFloat));
  EXPECT_NEAR(kl_divergence(af, bf).item<float>(), 100.0, 1e-4);
  EXPECT_NEAR(kl_divergence(bf, af).item<float>(), 100.0, 1e-4);
  EXPECT_NEAR(kl_divergence(a, a).item<double>(), 0.0, 1e-15);
}

TEST(DiscreteKL, BernoulliGradientMatchesFiniteDifferences) {
  auto q = Bernoulli::from_logits(at::tensor({0.3, -1.0}, f64()));
  auto kl = [&](const at::Tensor& l) { return kl_divergence(Bernoulli::from_logits(l), q); };
  auto l = at::tensor({-2.0, 1.5}, f64());
  EXPECT_TRUE(at::allclose(autograd_gradient(kl, l), finite_difference_gradient(kl, l), 1e-6, 1e-6));
}

TEST(DiscreteKL, CategoricalMatchesEnumerationWithZeroProbabilities) {
  const std::vector<std::vector<double>> dists = {
      {0.1, 0.2, 0.3, 0.4}, {0.0, 0.5, 0.5, 0.0}, {0.25, 0.25, 0.25, 0.25}, {0.97, 0.01, 0.01, 0.01}};
  for (const auto& p : dists) {
    for (const auto& q : dists) {
      auto kl =
          kl_divergence(Categorical::from_probs(at::tensor(p, f64())), Categorical::from_probs(at::tensor(q, f64())));
      EXPECT_TRUE(kl_matches(kl.item<double>(), exact_kl(p, q)));
    }
  }
  // Batched with broadcasting: p batch (2), q batch ().
  auto pb = Categorical::from_probs(matrix({{0.1, 0.2, 0.3, 0.4}, {0.25, 0.25, 0.25, 0.25}}, f64()));
  auto qb = Categorical::from_logits(at::log(at::tensor({0.97, 0.01, 0.01, 0.01}, f64())));
  auto kl = kl_divergence(pb, qb);
  EXPECT_EQ(kl.sizes(), (at::IntArrayRef{2}));
  EXPECT_TRUE(kl_matches(kl[1].item<double>(), exact_kl(dists[2], dists[3])));
  EXPECT_TRUE(throws_error(
      [] {
        kl_divergence(Categorical::from_probs(at::ones({3}, f64())), Categorical::from_probs(at::ones({4}, f64())));
      },
      "KL(Categorical || Categorical) needs the same number of categories, got 3 and 4"));
}

TEST(DiscreteKL, PoissonMatchesEnumeration) {
  const std::vector<double> rates = {0.0, 0.5, 3.0, 12.0};
  for (double rp : rates) {
    for (double rq : rates) {
      std::vector<double> p, q;
      for (int k = 0; k < 200; ++k) {
        auto log_pmf = [k](double r) {
          return r == 0 ? (k == 0 ? 0.0 : -kInf) : k * std::log(r) - r - std::lgamma(k + 1.0);
        };
        p.push_back(log_pmf(rp));
        q.push_back(log_pmf(rq));
      }
      auto kl = kl_divergence(Poisson(at::scalar_tensor(rp, f64())), Poisson(at::scalar_tensor(rq, f64())));
      EXPECT_TRUE(kl_matches(kl.item<double>(), exact_kl_from_logs(p, q)));
    }
  }
}

TEST(DiscreteKL, BinomialMatchesEnumeration) {
  for (int n : {0, 1, 6, 40}) {
    for (double p : {0.0, 0.3, 0.8, 1.0}) {
      for (double q : {0.0, 0.3, 0.5, 1.0}) {
        auto a = Binomial::from_probs(double(n), at::scalar_tensor(p, f64()));
        auto b = Binomial::from_logits(double(n), at::scalar_tensor(std::log(q) - std::log1p(-q), f64()));
        EXPECT_TRUE(kl_matches(kl_divergence(a, b).item<double>(), exact_kl(binomial_pmf(n, p), binomial_pmf(n, q))));
      }
    }
  }
}

TEST(DiscreteKL, BinomialWithDifferentTotalCountsIsRefused) {
  auto a = Binomial::from_probs(at::tensor({5.0, 6.0}, f64()), 0.5);
  auto b = Binomial::from_probs(at::tensor({5.0, 7.0}, f64()), 0.5);
  EXPECT_TRUE(
      throws_error([&] { kl_divergence(a, b); }, "kl_divergence: KL(Binomial || Binomial) needs equal total_count"));
}

TEST(DiscreteKL, MatchesMonteCarloEstimate) {
  // E_p[log p(x) - log q(x)] with draws from p, within Monte-Carlo error.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(31);
  Poisson p(at::scalar_tensor(4.0, f64()));
  Poisson q(at::scalar_tensor(6.5, f64()));
  auto x = p.sample({40000}, gen);
  auto ratio = p.log_prob(x) - q.log_prob(x);
  const double se = ratio.std().item<double>() / std::sqrt(40000.0);
  EXPECT_NEAR(ratio.mean().item<double>(), kl_divergence(p, q).item<double>(), kMonteCarloZ * se);
}
