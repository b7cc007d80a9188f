#include "amortize/dist/continuous/laplace.hpp"
#include "amortize/dist/kl/kl_divergence.hpp"
#include "continuous_test_support.hpp"

#include <cmath>

using namespace amortize;
using namespace amortize::dist;
using namespace continuous_test;

TEST(Laplace, LogProbMatchesClosedForm) {
  for (double loc : {-3.0, 0.0, 2.5}) {
    for (double scale : {1e-3, 0.5, 1e3}) {
      Laplace dist(d(loc), scale);
      for (double x : {-1e300, -2.0, 0.0, 2.5, 7.0, 1e300}) {
        const double expected = std::log(std::exp(-std::abs(x - loc) / scale) / (2 * scale));
        const double tail_safe = -std::log(2 * scale) - std::abs(x - loc) / scale;
        const double reference = std::isfinite(expected) ? expected : tail_safe;
        EXPECT_NEAR(dist.log_prob(d(x)).item<double>(), reference, 1e-12 * (1 + std::abs(reference)));
      }
    }
  }
  EXPECT_NEAR(Laplace(f(1.0), 0.5).log_prob(f(-2.0)).item<double>(), -std::log(1.0) - 6.0, 1e-5 * 7);
}

TEST(Laplace, SamplesMatchMomentsAndCdfInBothDtypes) {
  for (auto options : {f64(), f32()}) {
    Laplace dist(at::scalar_tensor(0.5, options), 2.0);
    auto xs = dist.sample({100000}, seeded(16));
    EXPECT_EQ(xs.scalar_type(), options.dtype().toScalarType());
    EXPECT_TRUE(at::all(at::isfinite(xs)).item<bool>());
    EXPECT_TRUE(moments_match(xs, 0.5, 8.0));
    EXPECT_TRUE(passes_ks(xs, [](const at::Tensor& v) { return Laplace(d(0.5), 2.0).cdf(v); }));
  }
  Laplace dist(d(0.5), 2.0);
  EXPECT_NEAR(dist.mean().item<double>(), 0.5, 0);
  EXPECT_NEAR(dist.variance().item<double>(), 8.0, 1e-15);
  for (double x : {-30.0, -1.0, 0.5, 4.0}) {
    const double z = (x - 0.5) / 2.0;
    const double expected = z < 0 ? 0.5 * std::exp(z) : 1 - 0.5 * std::exp(-z);
    EXPECT_NEAR(dist.cdf(d(x)).item<double>(), expected, 1e-15);
    EXPECT_NEAR(dist.icdf(d(expected)).item<double>(), x, 1e-9);
  }
}

TEST(Laplace, GradientsMatchFiniteDifferences) {
  auto x = at::tensor({-4.0, 0.2, 3.0}, f64());
  EXPECT_TRUE(gradient_matches([&](const at::Tensor& p) { return Laplace(p[0], p[1]).log_prob(x); },
                               at::tensor({0.3, 1.7}, f64())));
  EXPECT_TRUE(gradient_matches([](const at::Tensor& v) { return Laplace(0.3, 1.7).log_prob(v); }, x));
  EXPECT_TRUE(gradient_matches([](const at::Tensor& p) { return Laplace(p[0], p[1]).rsample({5}, seeded(4)); },
                               at::tensor({0.3, 1.7}, f64())));
}

TEST(Laplace, PathwiseGradientsOfSecondMomentMatchAnalytic) {
  // E[x^2] = m^2 + 2 s^2.
  auto by_loc = pathwise_derivative(
      [](const at::Tensor& loc) { return Laplace(loc, 1.5).rsample({}, seeded(1)).square(); }, 0.8, 200000);
  EXPECT_TRUE(within_monte_carlo(by_loc, 1.6));
  auto by_scale = pathwise_derivative(
      [](const at::Tensor& scale) { return Laplace(d(0.8), scale).rsample({}, seeded(2)).square(); }, 1.5, 200000);
  EXPECT_TRUE(within_monte_carlo(by_scale, 6.0));
}

TEST(Laplace, EntropyAndKlMatchClosedFormAndMonteCarlo) {
  Laplace p(d(0.4), 1.3);
  Laplace q(d(-1.0), 0.6);
  const double entropy = 1 + std::log(2 * 1.3);
  EXPECT_NEAR(p.entropy().item<double>(), entropy, 1e-14);
  auto xs = p.sample({200000}, seeded(24));
  EXPECT_TRUE(within_monte_carlo(monte_carlo(-p.log_prob(xs)), entropy));
  EXPECT_TRUE(within_monte_carlo(monte_carlo(p.log_prob(xs) - q.log_prob(xs)), kl_divergence(p, q).item<double>()));
  EXPECT_NEAR(kl_divergence(p, p).item<double>(), 0.0, 1e-15);
}

TEST(Laplace, BroadcastsAndExpands) {
  Laplace dist(at::zeros({2, 1}, f32()), at::ones({3}, f32()));
  EXPECT_EQ(dist.batch_shape(), (Shape{2, 3}));
  EXPECT_EQ(dist.log_prob(at::zeros({3}, f32())).sizes(), (at::IntArrayRef{2, 3}));
  EXPECT_EQ(dist.expand({4, 2, 3})->rsample({5}).sizes(), (at::IntArrayRef{5, 4, 2, 3}));
}

TEST(Laplace, RejectsBadArgumentsNamingThem) {
  EXPECT_TRUE(throws_error(
      [] {
        Laplace(0.0, at::tensor({1.0, 0.0}, f64()));
      },
      "Laplace: scale must be positive, got 0 at index [1]"));
  EXPECT_TRUE(throws_error([] { Laplace(std::nan(""), 1.0); }, "Laplace: loc must be finite, got nan"));
  EXPECT_TRUE(throws_error([] { Laplace(at::zeros({2}, f64()), at::ones({3}, f64())); },
                           "Laplace: parameters of shapes (2) and (3) do not broadcast"));
  EXPECT_TRUE(throws_error([] { Laplace(at::zeros({2}, f64()), 1.0).expand({3}); },
                           "Laplace: cannot expand batch shape (2) to (3)"));
}
