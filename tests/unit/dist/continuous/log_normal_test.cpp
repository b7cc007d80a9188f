#include "amortize/dist/continuous/log_normal.hpp"
#include "amortize/dist/kl/kl_divergence.hpp"
#include "continuous_test_support.hpp"

#include <cmath>
#include <limits>

using namespace amortize;
using namespace amortize::dist;
using namespace continuous_test;

namespace {
double reference_log_prob(double x, double loc, double scale) {
  const double z = (std::log(x) - loc) / scale;
  return -std::log(x) - std::log(scale) - 0.5 * std::log(2 * M_PI) - 0.5 * z * z;
}
}  // namespace

TEST(LogNormal, LogProbMatchesClosedFormIncludingTinyAndHugeValues) {
  for (double loc : {-3.0, 0.0, 2.5}) {
    for (double scale : {1e-3, 0.5, 1.0, 30.0}) {
      LogNormal dist(d(loc), scale);
      for (double x : {1e-300, 1e-30, 0.2, 1.0, 7.0, 1e30, 1e300}) {
        const double expected = reference_log_prob(x, loc, scale);
        EXPECT_NEAR(dist.log_prob(d(x)).item<double>(), expected, 1e-12 * (1 + std::abs(expected)));
      }
    }
  }
}

TEST(LogNormal, Float32LogProbIsAccurateAtTinyAndHugeValues) {
  LogNormal dist(f(0.5), 2.0);
  for (double x : {1e-37, 1e-10, 0.3, 4.0, 1e10, 3e38}) {
    const double expected = reference_log_prob(static_cast<float>(x), 0.5, 2.0);
    const auto lp = dist.log_prob(f(x));
    EXPECT_EQ(lp.scalar_type(), at::kFloat);
    EXPECT_NEAR(lp.item<double>(), expected, 1e-5 * (1 + std::abs(expected)));
  }
}

TEST(LogNormal, NonPositiveValuesHaveMinusInfinityWithoutValidationAndAreRejectedWithIt) {
  EXPECT_TRUE(
      throws_error([] { LogNormal(0.0, 1.0).log_prob(d(0.0)); }, "LogNormal: value outside the support positive"));
  set_validation(false);
  auto lp = LogNormal(0.0, 1.0).log_prob(at::tensor({0.0, -1.0}, f64()));
  set_validation(true);
  EXPECT_TRUE(at::all(lp == -std::numeric_limits<double>::infinity()).item<bool>());
}

TEST(LogNormal, BroadcastsParametersExpandsAndKeepsDtype) {
  LogNormal dist(at::zeros({3, 1}, f64()), at::ones({4}, f64()));
  EXPECT_EQ(dist.batch_shape(), (Shape{3, 4}));
  EXPECT_EQ(dist.log_prob(at::ones({2, 3, 4}, f64())).sizes(), (at::IntArrayRef{2, 3, 4}));
  auto expanded = LogNormal(at::zeros({1}, f32()), 1.0).expand({5, 2});
  EXPECT_EQ(expanded->batch_shape(), (Shape{5, 2}));
  EXPECT_EQ(expanded->sample({7}).sizes(), (at::IntArrayRef{7, 5, 2}));
  EXPECT_EQ(expanded->sample({7}).scalar_type(), at::kFloat);
  EXPECT_TRUE(throws_error([&] { dist.expand({2, 4}); }, "LogNormal: cannot expand batch shape (3, 4) to (2, 4)"));
}

TEST(LogNormal, LogProbGradientsMatchFiniteDifferences) {
  auto x = at::tensor({0.05, 1.3, 20.0}, f64());
  EXPECT_TRUE(gradient_matches([&](const at::Tensor& p) { return LogNormal(p[0], p[1]).log_prob(x); },
                               at::tensor({0.3, 1.7}, f64())));
  EXPECT_TRUE(gradient_matches([](const at::Tensor& v) { return LogNormal(0.3, 1.7).log_prob(v); }, x));
}

TEST(LogNormal, RsampleGradientsMatchFiniteDifferencesWithFixedNoise) {
  EXPECT_TRUE(gradient_matches([](const at::Tensor& p) { return LogNormal(p[0], p[1]).rsample({6}, seeded(3)); },
                               at::tensor({0.2, 0.6}, f64())));
}

TEST(LogNormal, SamplesMatchMomentsAndCdf) {
  LogNormal dist(d(0.3), 0.5);
  auto xs = dist.sample({100000}, seeded(11));
  EXPECT_TRUE(moments_match(xs, dist.mean().item<double>(), dist.variance().item<double>()));
  EXPECT_TRUE(passes_ks(xs, [&](const at::Tensor& v) { return dist.cdf(v); }));
  EXPECT_NEAR(dist.mean().item<double>(), std::exp(0.3 + 0.125), 1e-14);
  EXPECT_NEAR(dist.variance().item<double>(), (std::exp(0.25) - 1) * std::exp(0.6 + 0.25), 1e-14);
}

TEST(LogNormal, CdfMatchesClosedForm) {
  LogNormal dist(d(0.3), 0.5);
  for (double x : {0.0, 1e-3, 0.7, 1.35, 5.0}) {
    const double expected = x == 0 ? 0.0 : 0.5 * std::erfc(-(std::log(x) - 0.3) / (0.5 * std::sqrt(2.0)));
    EXPECT_NEAR(dist.cdf(d(x)).item<double>(), expected, 1e-15);
  }
}

TEST(LogNormal, PathwiseGradientOfMeanMatchesAnalytic) {
  const int64_t n = 200000;
  auto by_loc =
      pathwise_derivative([](const at::Tensor& loc) { return LogNormal(loc, 0.4).rsample({}, seeded(5)); }, 0.2, n);
  EXPECT_TRUE(within_monte_carlo(by_loc, std::exp(0.2 + 0.08)));
  auto by_scale = pathwise_derivative(
      [](const at::Tensor& scale) { return LogNormal(d(0.2), scale).rsample({}, seeded(6)); }, 0.4, n);
  EXPECT_TRUE(within_monte_carlo(by_scale, 0.4 * std::exp(0.2 + 0.08)));
}

TEST(LogNormal, EntropyMatchesClosedFormAndMonteCarlo) {
  LogNormal dist(d(0.7), 1.3);
  const double expected = 0.7 + 0.5 + 0.5 * std::log(2 * M_PI) + std::log(1.3);
  EXPECT_NEAR(dist.entropy().item<double>(), expected, 1e-14);
  EXPECT_TRUE(within_monte_carlo(monte_carlo(-dist.log_prob(dist.sample({100000}, seeded(9)))), expected));
}

TEST(LogNormal, KlMatchesMonteCarlo) {
  LogNormal p(d(0.2), 0.7);
  LogNormal q(d(-0.5), 1.4);
  auto xs = p.sample({200000}, seeded(21));
  EXPECT_TRUE(within_monte_carlo(monte_carlo(p.log_prob(xs) - q.log_prob(xs)), kl_divergence(p, q).item<double>()));
}

TEST(LogNormal, RejectsBadArgumentsNamingThem) {
  EXPECT_TRUE(throws_error(
      [] {
        LogNormal(0.0, at::tensor({1.0, -2.0}, f64()));
      },
      "LogNormal: scale must be positive, got -2 at index [1]"));
  EXPECT_TRUE(throws_error([] { LogNormal(0.0, 0.0); }, "LogNormal: scale must be positive, got 0"));
  EXPECT_TRUE(throws_error([] { LogNormal(at::tensor({std::nan("")}, f64()), 1.0); },
                           "LogNormal: loc must be finite, got nan"));
  EXPECT_TRUE(throws_error([] { LogNormal(at::zeros({3}, f64()), at::ones({2}, f64())); },
                           "LogNormal: parameters of shapes (3) and (2) do not broadcast"));
  EXPECT_TRUE(throws_error([] { LogNormal(at::zeros({3}, f64()), 1.0).log_prob(at::ones({2}, f64())); },
                           "LogNormal: value of shape (2) does not broadcast with batch shape (3)"));
}
