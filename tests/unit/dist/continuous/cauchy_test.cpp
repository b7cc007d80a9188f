#include "amortize/dist/continuous/cauchy.hpp"
#include "amortize/dist/kl/kl_divergence.hpp"
#include "continuous_test_support.hpp"

#include <cmath>
#include <limits>

using namespace amortize;
using namespace amortize::dist;
using namespace continuous_test;

namespace {
double reference_log_prob(double x, double loc, double scale) {
  return -std::log(M_PI * scale) - 2 * std::log(std::hypot(1.0, (x - loc) / scale));
}
}  // namespace

TEST(Cauchy, LogProbMatchesClosedFormIncludingFarTails) {
  for (double loc : {-3.0, 0.0, 2.5}) {
    for (double scale : {1e-3, 0.5, 1e3}) {
      Cauchy dist(d(loc), scale);
      for (double x : {-1e300, -1e20, -2.0, 0.0, 0.3, 7.0, 1e300}) {
        const double expected = reference_log_prob(x, loc, scale);
        EXPECT_NEAR(dist.log_prob(d(x)).item<double>(), expected, 1e-12 * (1 + std::abs(expected)));
      }
    }
  }
  Cauchy single(f(1.0), 0.5);
  for (double x : {-3e38, -1.0, 0.9, 1e25}) {
    const double expected = reference_log_prob(static_cast<float>(x), 1.0, 0.5);
    EXPECT_NEAR(single.log_prob(f(x)).item<double>(), expected, 1e-5 * (1 + std::abs(expected)));
  }
}

TEST(Cauchy, MomentsAreUndefinedOrInfiniteAndEntropyClosedForm) {
  Cauchy dist(at::zeros({2, 3}, f64()), 2.0);
  EXPECT_TRUE(at::all(at::isnan(dist.mean())).item<bool>());
  EXPECT_TRUE(at::all(dist.variance() == std::numeric_limits<double>::infinity()).item<bool>());
  EXPECT_EQ(dist.mean().sizes(), (at::IntArrayRef{2, 3}));
  Cauchy p(d(0.5), 2.0);
  const double entropy = std::log(4 * M_PI * 2.0);
  EXPECT_NEAR(p.entropy().item<double>(), entropy, 1e-14);
  EXPECT_TRUE(within_monte_carlo(monte_carlo(-p.log_prob(p.sample({200000}, seeded(41)))), entropy));
}

TEST(Cauchy, SamplesPassKolmogorovSmirnovInBothDtypes) {
  for (auto options : {f64(), f32()}) {
    Cauchy dist(at::scalar_tensor(-1.0, options), 3.0);
    auto xs = dist.sample({100000}, seeded(15));
    EXPECT_EQ(xs.scalar_type(), options.dtype().toScalarType());
    EXPECT_TRUE(at::all(at::isfinite(xs)).item<bool>());
    EXPECT_TRUE(passes_ks(xs, [&](const at::Tensor& v) { return Cauchy(d(-1.0), 3.0).cdf(v); }));
  }
  Cauchy dist(d(-1.0), 3.0);
  for (double x : {-1e6, -4.0, -1.0, 2.0}) {
    EXPECT_NEAR(dist.cdf(d(x)).item<double>(), 0.5 + std::atan((x + 1) / 3) / M_PI, 1e-15);
    EXPECT_NEAR(dist.icdf(dist.cdf(d(x))).item<double>(), x, 1e-9 * (1 + std::abs(x)));
  }
}

TEST(Cauchy, GradientsMatchFiniteDifferences) {
  auto x = at::tensor({-40.0, 0.2, 3.0}, f64());
  EXPECT_TRUE(gradient_matches([&](const at::Tensor& p) { return Cauchy(p[0], p[1]).log_prob(x); },
                               at::tensor({0.3, 1.7}, f64())));
  EXPECT_TRUE(gradient_matches([](const at::Tensor& v) { return Cauchy(0.3, 1.7).log_prob(v); }, x));
  EXPECT_TRUE(gradient_matches([](const at::Tensor& p) { return Cauchy(p[0], p[1]).rsample({5}, seeded(4)); },
                               at::tensor({0.3, 1.7}, f64())));
}

TEST(Cauchy, PathwiseGradientsMatchAnalytic) {
  // E[1 / (1 + x^2)] = (s + 1) / ((s + 1)^2 + m^2) for x ~ Cauchy(m, s).
  const double m = 0.7, s = 1.2, denom = (s + 1) * (s + 1) + m * m;
  auto f_of = [](const at::Tensor& x) { return (1 + x.square()).reciprocal(); };
  auto by_loc = pathwise_derivative([&](const at::Tensor& loc) { return f_of(Cauchy(loc, s).rsample({}, seeded(1))); },
                                    m, 200000);
  EXPECT_TRUE(within_monte_carlo(by_loc, -2 * m * (s + 1) / (denom * denom)));
  auto by_scale = pathwise_derivative(
      [&](const at::Tensor& scale) { return f_of(Cauchy(d(m), scale).rsample({}, seeded(2))); }, s, 200000);
  EXPECT_TRUE(within_monte_carlo(by_scale, (m * m - (s + 1) * (s + 1)) / (denom * denom)));
}

TEST(Cauchy, KlMatchesMonteCarlo) {
  Cauchy p(d(0.2), 0.7);
  Cauchy q(d(-1.5), 2.4);
  auto xs = p.sample({200000}, seeded(23));
  EXPECT_TRUE(within_monte_carlo(monte_carlo(p.log_prob(xs) - q.log_prob(xs)), kl_divergence(p, q).item<double>()));
}

TEST(Cauchy, BroadcastsAndExpands) {
  Cauchy dist(at::zeros({2, 1}, f64()), at::ones({3}, f64()));
  EXPECT_EQ(dist.batch_shape(), (Shape{2, 3}));
  EXPECT_EQ(dist.expand({4, 2, 3})->sample({5}).sizes(), (at::IntArrayRef{5, 4, 2, 3}));
  EXPECT_TRUE(throws_error([&] { dist.expand({3}); }, "Cauchy: cannot expand batch shape (2, 3) to (3)"));
}

TEST(Cauchy, RejectsBadArgumentsNamingThem) {
  EXPECT_TRUE(throws_error([] { Cauchy(0.0, -1.0); }, "Cauchy: scale must be positive, got -1"));
  EXPECT_TRUE(throws_error([] { Cauchy(at::zeros({2}, f64()), at::ones({3}, f64())); },
                           "Cauchy: parameters of shapes (2) and (3) do not broadcast"));
  EXPECT_TRUE(throws_error([] { Cauchy(std::numeric_limits<double>::infinity(), 1.0); },
                           "Cauchy: loc must be finite, got inf"));
}
