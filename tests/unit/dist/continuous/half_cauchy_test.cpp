#include "amortize/dist/continuous/half_cauchy.hpp"
#include "continuous_test_support.hpp"

#include <cmath>
#include <limits>

using namespace amortize;
using namespace amortize::dist;
using namespace continuous_test;

namespace {
// log(2 / (pi s (1 + (x/s)^2))), with hypot keeping (x/s)^2 from overflowing.
double reference_log_prob(double x, double scale) {
  return std::log(2 / (M_PI * scale)) - 2 * std::log(std::hypot(1.0, x / scale));
}
}  // namespace

TEST(HalfCauchy, LogProbMatchesClosedFormFromZeroToHugeValues) {
  for (double scale : {1e-3, 0.5, 1.0, 1e3}) {
    HalfCauchy dist(d(scale));
    for (double x : {1e-300, 1e-8, 0.3, 1.0, 7.0, 1e30, 1e300}) {
      const double expected = reference_log_prob(x, scale);
      EXPECT_NEAR(dist.log_prob(d(x)).item<double>(), expected, 1e-12 * (1 + std::abs(expected)));
    }
  }
}

TEST(HalfCauchy, Float32LogProbStaysFiniteWhereTheSquareOverflows) {
  HalfCauchy dist(f(0.5));
  for (double x : {1e-30, 0.3, 2.0, 1e20, 3e38}) {
    const double expected = reference_log_prob(static_cast<float>(x), 0.5);
    EXPECT_NEAR(dist.log_prob(f(x)).item<double>(), expected, 1e-5 * (1 + std::abs(expected)));
  }
  auto grad = amortize::testing::autograd_gradient(
      [](const at::Tensor& v) { return HalfCauchy(f(0.5)).log_prob(v.to(at::kFloat)); }, d(1e30));
  EXPECT_TRUE(std::isfinite(grad.item<double>()));
}

TEST(HalfCauchy, DensityAtZeroIsFiniteAndBelowZeroIsMinusInfinity) {
  set_validation(false);
  HalfCauchy dist(d(2.0));
  const double at_zero = dist.log_prob(d(0.0)).item<double>();
  const double below = dist.log_prob(d(-3.0)).item<double>();
  auto grad = amortize::testing::autograd_gradient([&](const at::Tensor& v) { return dist.log_prob(v); }, d(0.0));
  set_validation(true);
  EXPECT_NEAR(at_zero, std::log(1 / M_PI), 1e-15);
  EXPECT_EQ(below, -std::numeric_limits<double>::infinity());
  EXPECT_EQ(grad.item<double>(), 0.0);
}

TEST(HalfCauchy, MeanAndVarianceAreInfiniteAndEntropyClosedForm) {
  HalfCauchy dist(at::tensor({0.5, 3.0}, f32()));
  EXPECT_TRUE(at::all(dist.mean() == std::numeric_limits<float>::infinity()).item<bool>());
  EXPECT_TRUE(at::all(dist.variance() == std::numeric_limits<float>::infinity()).item<bool>());
  EXPECT_EQ(dist.mean().sizes(), (at::IntArrayRef{2}));
  EXPECT_EQ(dist.mean().scalar_type(), at::kFloat);
  HalfCauchy p(d(3.0));
  const double entropy = std::log(2 * M_PI * 3.0);
  EXPECT_NEAR(p.entropy().item<double>(), entropy, 1e-14);
  EXPECT_TRUE(within_monte_carlo(monte_carlo(-p.log_prob(p.sample({200000}, seeded(31)))), entropy));
}

TEST(HalfCauchy, SamplesPassKolmogorovSmirnovAndCdfMatches) {
  HalfCauchy dist(d(2.0));
  auto xs = dist.sample({100000}, seeded(13));
  EXPECT_TRUE(at::all(xs > 0).item<bool>());
  EXPECT_TRUE(passes_ks(xs, [&](const at::Tensor& v) { return dist.cdf(v); }));
  for (double x : {0.0, 0.5, 2.0, 1e6}) EXPECT_NEAR(dist.cdf(d(x)).item<double>(), 2 / M_PI * std::atan(x / 2), 1e-15);
  HalfCauchy single(f(2.0));
  auto fs = single.sample({100000}, seeded(14));
  EXPECT_EQ(fs.scalar_type(), at::kFloat);
  EXPECT_TRUE(passes_ks(fs, [&](const at::Tensor& v) { return single.cdf(v.to(at::kFloat)); }));
}

TEST(HalfCauchy, GradientsMatchFiniteDifferences) {
  auto x = at::tensor({0.01, 1.2, 400.0}, f64());
  EXPECT_TRUE(gradient_matches([&](const at::Tensor& s) { return HalfCauchy(s).log_prob(x); }, d(1.7)));
  EXPECT_TRUE(gradient_matches([](const at::Tensor& v) { return HalfCauchy(1.7).log_prob(v); }, x));
  EXPECT_TRUE(gradient_matches([](const at::Tensor& s) { return HalfCauchy(s).rsample({5}, seeded(4)); }, d(0.8)));
}

TEST(HalfCauchy, PathwiseGradientMatchesAnalytic) {
  // E[1 / (1 + x^2)] = 1 / (1 + s), so its derivative is -1 / (1 + s)^2.
  auto e = pathwise_derivative(
      [](const at::Tensor& s) { return (1 + HalfCauchy(s).rsample({}, seeded(8)).square()).reciprocal(); }, 1.5,
      200000);
  EXPECT_TRUE(within_monte_carlo(e, -1 / (2.5 * 2.5)));
}

TEST(HalfCauchy, RejectsBadScaleNamingIt) {
  EXPECT_TRUE(throws_error(
      [] {
        HalfCauchy(at::tensor({1.0, -0.5}, f64()));
      },
      "HalfCauchy: scale must be positive, got -0.5 at index [1]"));
}
