#include "amortize/dist/continuous/uniform.hpp"
#include "continuous_test_support.hpp"

#include <cmath>
#include <limits>

using namespace amortize;
using namespace amortize::dist;
using namespace continuous_test;

TEST(Uniform, LogProbIsMinusLogWidthInsideIncludingBothBounds) {
  for (auto [low, high] : {std::pair{-2.0, 3.0}, {0.0, 1e-8}, {-1e10, 1e10}}) {
    Uniform dist(d(low), high);
    for (double x : {low, low + 0.25 * (high - low), high}) {
      EXPECT_NEAR(dist.log_prob(d(x)).item<double>(), -std::log(high - low),
                  1e-14 * (1 + std::abs(std::log(high - low))));
    }
  }
  EXPECT_NEAR(Uniform(f(-2.0), 3.0).log_prob(f(3.0)).item<double>(), -std::log(5.0), 1e-6);
}

TEST(Uniform, OutsideTheBoundsIsRejectedOrMinusInfinity) {
  EXPECT_TRUE(throws_error([] { Uniform(0.0, 1.0).log_prob(d(1.5)); }, "Uniform: value outside the support interval"));
  set_validation(false);
  auto lp = Uniform(0.0, 1.0).log_prob(at::tensor({-1e-9, 0.5, 1 + 1e-9}, f64()));
  set_validation(true);
  EXPECT_EQ(lp[0].item<double>(), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(lp[1].item<double>(), 0.0);
  EXPECT_EQ(lp[2].item<double>(), -std::numeric_limits<double>::infinity());
}

TEST(Uniform, SupportUsesTheBatchOfBounds) {
  Uniform dist(at::tensor({0.0, 10.0}, f64()), at::tensor({1.0, 20.0}, f64()));
  auto ok = dist.support().check(at::tensor({0.5, 0.5}, f64()));
  EXPECT_TRUE(ok[0].item<bool>());
  EXPECT_FALSE(ok[1].item<bool>());
  EXPECT_NEAR(dist.log_prob(at::tensor({1.0, 10.0}, f64()))[1].item<double>(), -std::log(10.0), 1e-15);
}

TEST(Uniform, SamplesMatchMomentsAndCdfInBothDtypes) {
  for (auto options : {f64(), f32()}) {
    Uniform dist(at::scalar_tensor(-1.0, options), 3.0);
    auto xs = dist.sample({100000}, seeded(17));
    EXPECT_EQ(xs.scalar_type(), options.dtype().toScalarType());
    EXPECT_TRUE(at::all((xs >= -1) & (xs <= 3)).item<bool>());
    EXPECT_TRUE(moments_match(xs, 1.0, 16.0 / 12));
    EXPECT_TRUE(passes_ks(xs, [](const at::Tensor& v) { return Uniform(d(-1.0), 3.0).cdf(v); }));
  }
  Uniform dist(d(-1.0), 3.0);
  EXPECT_NEAR(dist.mean().item<double>(), 1.0, 1e-15);
  EXPECT_NEAR(dist.variance().item<double>(), 16.0 / 12, 1e-15);
  EXPECT_EQ(dist.cdf(d(-5.0)).item<double>(), 0.0);
  EXPECT_EQ(dist.cdf(d(-1.0)).item<double>(), 0.0);
  EXPECT_NEAR(dist.cdf(d(0.0)).item<double>(), 0.25, 1e-15);
  EXPECT_EQ(dist.cdf(d(3.0)).item<double>(), 1.0);
  EXPECT_EQ(dist.cdf(d(9.0)).item<double>(), 1.0);
}

TEST(Uniform, GradientsMatchFiniteDifferences) {
  auto x = at::tensor({-0.5, 0.2, 1.5}, f64());
  EXPECT_TRUE(gradient_matches([&](const at::Tensor& p) { return Uniform(p[0], p[1]).log_prob(x); },
                               at::tensor({-1.0, 2.0}, f64())));
  EXPECT_TRUE(gradient_matches([](const at::Tensor& p) { return Uniform(p[0], p[1]).rsample({5}, seeded(4)); },
                               at::tensor({-1.0, 2.0}, f64())));
}

TEST(Uniform, PathwiseGradientsOfSecondMomentMatchAnalytic) {
  // E[x^2] = (a^2 + a b + b^2) / 3.
  const double a = -0.5, b = 2.0;
  auto by_low = pathwise_derivative(
      [&](const at::Tensor& low) { return Uniform(low, b).rsample({}, seeded(1)).square(); }, a, 200000);
  EXPECT_TRUE(within_monte_carlo(by_low, (2 * a + b) / 3));
  auto by_high = pathwise_derivative(
      [&](const at::Tensor& high) { return Uniform(d(a), high).rsample({}, seeded(2)).square(); }, b, 200000);
  EXPECT_TRUE(within_monte_carlo(by_high, (a + 2 * b) / 3));
}

TEST(Uniform, EntropyMatchesClosedFormAndMonteCarlo) {
  Uniform dist(d(0.5), 4.0);
  EXPECT_NEAR(dist.entropy().item<double>(), std::log(3.5), 1e-15);
  EXPECT_NEAR(monte_carlo(-dist.log_prob(dist.sample({1000}, seeded(3)))).mean, std::log(3.5), 1e-14);
}

TEST(Uniform, BroadcastsAndExpands) {
  Uniform dist(at::zeros({2, 1}, f32()), at::ones({3}, f32()));
  EXPECT_EQ(dist.batch_shape(), (Shape{2, 3}));
  auto expanded = dist.expand({4, 2, 3});
  EXPECT_EQ(expanded->rsample({5}).sizes(), (at::IntArrayRef{5, 4, 2, 3}));
  EXPECT_EQ(expanded->log_prob(at::full({2, 3}, 0.5, f32())).sizes(), (at::IntArrayRef{4, 2, 3}));
}

TEST(Uniform, RejectsBadArgumentsNamingThem) {
  EXPECT_TRUE(throws_error(
      [] {
        Uniform(at::tensor({0.0, 2.0}, f64()), 1.0);
      },
      "Uniform: low must be less than high, got low 2 and high 1 at index [1]"));
  EXPECT_TRUE(throws_error([] { Uniform(1.0, 1.0); }, "Uniform: low must be less than high, got low 1 and high 1"));
  EXPECT_TRUE(throws_error([] { Uniform(-std::numeric_limits<double>::infinity(), 1.0); },
                           "Uniform: low must be finite, got -inf"));
  EXPECT_TRUE(throws_error([] { Uniform(0.0, std::nan("")); }, "Uniform: high must be finite, got nan"));
  EXPECT_TRUE(throws_error([] { Uniform(at::zeros({2}, f64()), at::ones({3}, f64())); },
                           "Uniform: parameters of shapes (2) and (3) do not broadcast"));
}
