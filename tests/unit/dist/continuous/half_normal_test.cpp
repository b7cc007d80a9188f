#include "amortize/dist/continuous/half_normal.hpp"
#include "amortize/dist/kl/kl_divergence.hpp"
#include "continuous_test_support.hpp"

#include <cmath>
#include <limits>

using namespace amortize;
using namespace amortize::dist;
using namespace continuous_test;

namespace {
double reference_log_prob(double x, double scale) {
  return std::log(std::sqrt(2 / M_PI) / scale) - x * x / (2 * scale * scale);
}
}  // namespace

TEST(HalfNormal, LogProbMatchesClosedFormFromTinyToHugeValues) {
  for (double scale : {1e-3, 0.5, 1.0, 1e3}) {
    HalfNormal dist(d(scale));
    for (double x : {1e-300, 1e-8, 0.3, 1.0, 7.0, 1e3}) {
      const double expected = reference_log_prob(x, scale);
      EXPECT_NEAR(dist.log_prob(d(x)).item<double>(), expected, 1e-12 * (1 + std::abs(expected)));
    }
    const double expected = reference_log_prob(0.7, scale);
    EXPECT_NEAR(HalfNormal(f(scale)).log_prob(f(0.7)).item<double>(), expected, 1e-5 * (1 + std::abs(expected)));
  }
}

TEST(HalfNormal, DensityAtZeroIsFiniteAndBelowZeroIsMinusInfinity) {
  // The support is the positive reals (0 is rejected by validation), but the density is
  // continuous at 0: without validation log_prob(0) is its finite limit, with finite gradients.
  set_validation(false);
  HalfNormal dist(d(2.0));
  EXPECT_NEAR(dist.log_prob(d(0.0)).item<double>(), reference_log_prob(0.0, 2.0), 1e-15);
  EXPECT_EQ(dist.log_prob(d(-1e-12)).item<double>(), -std::numeric_limits<double>::infinity());
  auto grad =
      amortize::testing::autograd_gradient([](const at::Tensor& s) { return HalfNormal(s).log_prob(d(0.0)); }, d(2.0));
  set_validation(true);
  EXPECT_NEAR(grad.item<double>(), -0.5, 1e-15);
  EXPECT_TRUE(
      throws_error([] { HalfNormal(1.0).log_prob(d(-0.5)); }, "HalfNormal: value outside the support positive"));
}

TEST(HalfNormal, BroadcastsExpandsAndKeepsDtype) {
  HalfNormal dist(at::ones({3, 1}, f32()));
  EXPECT_EQ(dist.log_prob(at::ones({4, 1, 1}, f32())).sizes(), (at::IntArrayRef{4, 3, 1}));
  EXPECT_TRUE(throws_error(
      [&] {
        dist.log_prob(at::ones({4, 1}, f32()));
      },
      "HalfNormal: value of shape (4, 1) does not broadcast with batch shape (3, 1)"));
  auto expanded = dist.expand({2, 3, 5});
  EXPECT_EQ(expanded->rsample({4}).sizes(), (at::IntArrayRef{4, 2, 3, 5}));
  EXPECT_EQ(expanded->rsample().scalar_type(), at::kFloat);
}

TEST(HalfNormal, GradientsMatchFiniteDifferences) {
  auto x = at::tensor({0.01, 1.2, 4.0}, f64());
  EXPECT_TRUE(gradient_matches([&](const at::Tensor& s) { return HalfNormal(s).log_prob(x); }, d(1.7)));
  EXPECT_TRUE(gradient_matches([](const at::Tensor& v) { return HalfNormal(1.7).log_prob(v); }, x));
  EXPECT_TRUE(gradient_matches([](const at::Tensor& s) { return HalfNormal(s).rsample({5}, seeded(4)); }, d(0.8)));
}

TEST(HalfNormal, SamplesMatchMomentsAndCdf) {
  HalfNormal dist(d(1.5));
  auto xs = dist.sample({100000}, seeded(12));
  EXPECT_TRUE(at::all(xs > 0).item<bool>());
  EXPECT_TRUE(moments_match(xs, 1.5 * std::sqrt(2 / M_PI), 2.25 * (1 - 2 / M_PI)));
  EXPECT_NEAR(dist.mean().item<double>(), 1.5 * std::sqrt(2 / M_PI), 1e-15);
  EXPECT_NEAR(dist.variance().item<double>(), 2.25 * (1 - 2 / M_PI), 1e-15);
  EXPECT_TRUE(passes_ks(xs, [&](const at::Tensor& v) { return dist.cdf(v); }));
  for (double x : {0.0, 0.4, 3.0}) EXPECT_NEAR(dist.cdf(d(x)).item<double>(), std::erf(x / (1.5 * M_SQRT2)), 1e-15);
  EXPECT_EQ(dist.cdf(d(-1.0)).item<double>(), 0.0);
}

TEST(HalfNormal, PathwiseGradientOfMeanMatchesAnalytic) {
  auto e = pathwise_derivative([](const at::Tensor& s) { return HalfNormal(s).rsample({}, seeded(8)); }, 1.3, 200000);
  EXPECT_TRUE(within_monte_carlo(e, std::sqrt(2 / M_PI)));
}

TEST(HalfNormal, EntropyAndKlMatchClosedFormAndMonteCarlo) {
  HalfNormal p(d(0.8));
  HalfNormal q(d(2.1));
  const double entropy = 0.5 * std::log(M_PI * std::exp(1.0) * 0.64 / 2);
  EXPECT_NEAR(p.entropy().item<double>(), entropy, 1e-14);
  auto xs = p.sample({200000}, seeded(22));
  EXPECT_TRUE(within_monte_carlo(monte_carlo(-p.log_prob(xs)), entropy));
  EXPECT_TRUE(within_monte_carlo(monte_carlo(p.log_prob(xs) - q.log_prob(xs)), kl_divergence(p, q).item<double>()));
}

TEST(HalfNormal, RejectsBadScaleNamingIt) {
  EXPECT_TRUE(throws_error(
      [] {
        HalfNormal(at::tensor({1.0, 2.0, 3.0, -4.0}, f64()).reshape({2, 2}));
      },
      "HalfNormal: scale must be positive, got -4 at index [1, 1]"));
  EXPECT_TRUE(throws_error([] { HalfNormal(0.0); }, "HalfNormal: scale must be positive, got 0"));
}
