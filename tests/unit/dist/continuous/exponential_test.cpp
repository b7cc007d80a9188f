#include "amortize/dist/continuous/exponential.hpp"
#include "continuous_test_support.hpp"

#include <cmath>
#include <limits>

using namespace amortize;
using namespace amortize::dist;
using namespace continuous_test;

TEST(Exponential, LogProbMatchesClosedForm) {
  for (double rate : {1e-8, 0.5, 1.0, 1e8}) {
    Exponential dist(d(rate));
    for (double x : {1e-300, 1e-3, 0.7, 40.0, 1e10}) {
      const double expected = std::log(rate * std::exp(-rate * x));
      const double reference = std::isfinite(expected) ? expected : std::log(rate) - rate * x;
      EXPECT_NEAR(dist.log_prob(d(x)).item<double>(), reference, 1e-12 * (1 + std::abs(reference)));
    }
  }
  EXPECT_NEAR(Exponential(f(2.5)).log_prob(f(0.8)).item<double>(), std::log(2.5) - 2.0, 1e-6);
}

TEST(Exponential, DensityAtZeroIsLogRateAndBelowZeroMinusInfinity) {
  set_validation(false);
  auto lp = Exponential(d(3.0)).log_prob(at::tensor({0.0, -1e-12}, f64()));
  set_validation(true);
  EXPECT_NEAR(lp[0].item<double>(), std::log(3.0), 1e-15);
  EXPECT_EQ(lp[1].item<double>(), -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(
      throws_error([] { Exponential(1.0).log_prob(d(-2.0)); }, "Exponential: value outside the support positive"));
}

TEST(Exponential, SamplesMatchMomentsAndCdfAndAreNeverZero) {
  for (auto options : {f64(), f32()}) {
    Exponential dist(at::scalar_tensor(2.0, options));
    auto xs = dist.sample({200000}, seeded(18));
    EXPECT_EQ(xs.scalar_type(), options.dtype().toScalarType());
    EXPECT_TRUE(at::all(xs > 0).item<bool>());
    EXPECT_TRUE(moments_match(xs, 0.5, 0.25));
    EXPECT_TRUE(passes_ks(xs, [](const at::Tensor& v) { return Exponential(d(2.0)).cdf(v); }));
  }
  Exponential dist(d(2.0));
  for (double x : {0.0, 1e-9, 0.3, 5.0}) {
    EXPECT_NEAR(dist.cdf(d(x)).item<double>(), -std::expm1(-2 * x), 1e-16);
    EXPECT_NEAR(dist.icdf(dist.cdf(d(x))).item<double>(), x, 1e-12);
  }
  EXPECT_EQ(dist.cdf(d(-1.0)).item<double>(), 0.0);
}

TEST(Exponential, GradientsMatchFiniteDifferences) {
  auto x = at::tensor({0.01, 0.9, 4.0}, f64());
  EXPECT_TRUE(gradient_matches([&](const at::Tensor& r) { return Exponential(r).log_prob(x); }, d(1.7)));
  EXPECT_TRUE(gradient_matches([](const at::Tensor& v) { return Exponential(1.7).log_prob(v); }, x));
  EXPECT_TRUE(gradient_matches([](const at::Tensor& r) { return Exponential(r).rsample({5}, seeded(4)); }, d(0.8)));
}

TEST(Exponential, PathwiseGradientOfMeanMatchesAnalytic) {
  auto e = pathwise_derivative([](const at::Tensor& r) { return Exponential(r).rsample({}, seeded(8)); }, 1.6, 200000);
  EXPECT_TRUE(within_monte_carlo(e, -1 / (1.6 * 1.6)));
}

TEST(Exponential, MomentsAndEntropyMatchClosedForm) {
  Exponential dist(d(0.4));
  EXPECT_NEAR(dist.mean().item<double>(), 2.5, 1e-15);
  EXPECT_NEAR(dist.variance().item<double>(), 6.25, 1e-14);
  EXPECT_NEAR(dist.entropy().item<double>(), 1 - std::log(0.4), 1e-15);
  EXPECT_TRUE(within_monte_carlo(monte_carlo(-dist.log_prob(dist.sample({200000}, seeded(25)))), 1 - std::log(0.4)));
}

TEST(Exponential, BroadcastsAndExpands) {
  Exponential dist(at::ones({3, 1}, f32()));
  EXPECT_EQ(dist.log_prob(at::ones({2}, f32())).sizes(), (at::IntArrayRef{3, 2}));
  EXPECT_EQ(dist.expand({2, 3, 4})->sample({5}).sizes(), (at::IntArrayRef{5, 2, 3, 4}));
  EXPECT_TRUE(throws_error([&] { dist.expand({2}); }, "Exponential: cannot expand batch shape (3, 1) to (2)"));
}

TEST(Exponential, RejectsBadRateNamingIt) {
  EXPECT_TRUE(throws_error(
      [] {
        Exponential(at::tensor({1.0, -3.0}, f64()));
      },
      "Exponential: rate must be positive, got -3 at index [1]"));
  EXPECT_TRUE(throws_error([] { Exponential(0.0); }, "Exponential: rate must be positive, got 0"));
}
