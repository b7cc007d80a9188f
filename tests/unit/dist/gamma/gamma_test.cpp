#include "amortize/dist/continuous/gamma.hpp"
#include "distribution_assertions.hpp"
#include "gamma_family_reference.hpp"
#include "numeric_checks.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace amortize;
using namespace amortize::dist;
using namespace amortize::testing;

namespace {
double gamma_log_density_ref(double a, double b, double x) {
  return (a - 1) * std::log(x) + a * std::log(b) - b * x - std::lgamma(a);
}
// Size of the terms summed in the log-density: the scale of its rounding error.
double gamma_term_scale(double a, double b, double x) {
  return std::abs((a - 1) * std::log(x)) + std::abs(a * std::log(b)) + b * x + std::abs(std::lgamma(a)) + 1;
}

// Regularised lower incomplete gamma P(a, x) in double.
double lower_regularized_gamma(double a, double x) { return at::igamma(scalar64(a), scalar64(x)).item<double>(); }

// Inverse of P(a, .) at u for the unit-rate Gamma, by bisection on log x.
double unit_gamma_quantile(double a, double u) {
  double lo = -745.0;
  double hi = 1.0;
  while (lower_regularized_gamma(a, std::exp(hi)) < u) hi += 1.0;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (lower_regularized_gamma(a, std::exp(mid)) < u ? lo : hi) = mid;
  }
  return std::exp(0.5 * (lo + hi));
}
}  // namespace

TEST(Gamma, LogProbMatchesClosedFormIncludingExtremes) {
  for (double a : {1e-3, 0.3, 1.0, 2.5, 1e3}) {
    for (double b : {1e-2, 1.0, 50.0}) {
      Gamma d(scalar64(a), b);
      for (double x : {1e-300, 1e-30, 1e-5, 0.7, 3.0, 1e3}) {
        const double expected = gamma_log_density_ref(a, b, x);
        const double got = d.log_prob(scalar64(x)).item<double>();
        EXPECT_NEAR(got, expected, 1e-13 * gamma_term_scale(a, b, x)) << "a=" << a << " b=" << b << " x=" << x;
      }
    }
  }
}

TEST(Gamma, LogProbInFloat32IsFiniteAndAccurateToRounding) {
  for (double a : {1e-3, 0.3, 1.0, 2.5, 1e3}) {
    for (double b : {1e-2, 1.0, 50.0}) {
      Gamma d(at::scalar_tensor(a, at::kFloat), b);
      for (double x : {1e-30, 1e-5, 0.7, 3.0, 1e3}) {
        auto lp = d.log_prob(at::scalar_tensor(x, at::kFloat));
        EXPECT_EQ(lp.scalar_type(), at::kFloat);
        // float32 rounds each term to ~6e-8 relative; a few terms and ops at most.
        EXPECT_NEAR(lp.item<double>(), gamma_log_density_ref(a, b, x), 1e-6 * gamma_term_scale(a, b, x))
            << "a=" << a << " b=" << b << " x=" << x;
      }
    }
  }
}

TEST(Gamma, UnitConcentrationIsExponentialDownToTheSmallestValues) {
  Gamma d(scalar64(1.0), 3.0);
  auto x = at::tensor({1e-320, 1e-300, 1e-10, 2.0}, f64());
  auto expected = std::log(3.0) - 3.0 * x;
  EXPECT_TRUE(at::allclose(d.log_prob(x), expected, 1e-14, 1e-14));
  // The value gradient at tiny x with a == 1 is -rate, not NaN from (a-1)/x.
  auto grad = autograd_gradient([&](const at::Tensor& v) { return d.log_prob(v); }, x);
  EXPECT_TRUE(at::allclose(grad, at::full_like(grad, -3.0)));
}

TEST(Gamma, LogProbGradientsMatchFiniteDifferences) {
  auto x = at::tensor({0.05, 0.9, 4.0}, f64());
  for (double a : {0.4, 2.0, 30.0}) {
    auto params = at::tensor({a, 1.7}, f64());
    auto lp_of_params = [&](const at::Tensor& p) { return Gamma(p[0], p[1]).log_prob(x); };
    EXPECT_TRUE(at::allclose(autograd_gradient(lp_of_params, params), finite_difference_gradient(lp_of_params, params),
                             1e-6, 1e-6));
    auto lp_of_value = [&](const at::Tensor& v) { return Gamma(a, 1.7).log_prob(v); };
    EXPECT_TRUE(
        at::allclose(autograd_gradient(lp_of_value, x), finite_difference_gradient(lp_of_value, x), 1e-6, 1e-6));
  }
}

TEST(Gamma, MomentsAndEntropyMatchClosedForm) {
  EXPECT_NEAR(digamma_ref(1.0), -0.57721566490153286, 1e-14);  // the reference itself: -Euler's gamma
  for (double a : {1e-2, 0.5, 1.0, 7.0, 1e4}) {
    const double b = 2.5;
    Gamma d(scalar64(a), b);
    EXPECT_NEAR(d.mean().item<double>(), a / b, 1e-14 * a / b);
    EXPECT_NEAR(d.variance().item<double>(), a / (b * b), 1e-14 * a / (b * b));
    const double entropy = a - std::log(b) + std::lgamma(a) + (1 - a) * digamma_ref(a);
    EXPECT_NEAR(d.entropy().item<double>(), entropy, 1e-11 * (std::abs(entropy) + std::abs(std::lgamma(a)) + a));
  }
}

TEST(Gamma, EntropyMatchesMonteCarlo) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  Gamma d(scalar64(0.7), 2.0);
  auto xs = d.sample({200000}, gen);
  auto est = monte_carlo(-d.log_prob(xs));
  EXPECT_NEAR(d.entropy().item<double>(), est.mean, kMonteCarloZ * est.standard_error);
}

TEST(Gamma, SamplesPassKolmogorovSmirnovAndMatchMoments) {
  const int64_t n = 20000;
  uint64_t seed = 42;
  for (double a : {0.1, 1.0, 7.5, 200.0}) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed++);
    const double b = 2.0;
    Gamma d(scalar64(a), b);
    auto xs = d.sample({n}, gen);
    EXPECT_TRUE((xs > 0).all().item<bool>());
    const double ks = amortize::testing::ks_statistic(xs, [&](const at::Tensor& v) { return d.cdf(v); });
    EXPECT_LT(ks, amortize::testing::ks_critical_value(n)) << "a=" << a;
    const double sd = std::sqrt(a) / b;
    EXPECT_NEAR(xs.mean().item<double>(), a / b, kMonteCarloZ * sd / std::sqrt(double(n)));
    // Var of the sample variance: (mu4 - sigma^4)/n with mu4 = 3 s^4 + 6 a / b^4 for the Gamma.
    const double mu4 = (3 * a * a + 6 * a) / std::pow(b, 4);
    EXPECT_NEAR(xs.var().item<double>(), a / (b * b), kMonteCarloZ * std::sqrt((mu4 - sd * sd * sd * sd) / n));
  }
}

TEST(Gamma, Float32SamplesStayPositiveForTinyConcentrationAndHugeRate) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  Gamma d(at::full({4}, 1e-3, at::kFloat), at::full({4}, 1e30, at::kFloat));
  auto xs = d.rsample({1000}, gen);
  EXPECT_EQ(xs.scalar_type(), at::kFloat);
  EXPECT_EQ(xs.sizes(), (at::IntArrayRef{1000, 4}));
  EXPECT_TRUE((xs > 0).all().item<bool>());
  EXPECT_TRUE(at::isfinite(d.log_prob(xs)).all().item<bool>());
}

TEST(Gamma, SameSeedGivesSameDraws) {
  Gamma d(at::tensor({0.5, 3.0}, f64()), 1.5);
  auto g1 = at::make_generator<at::CPUGeneratorImpl>(9);
  auto g2 = at::make_generator<at::CPUGeneratorImpl>(9);
  EXPECT_TRUE(at::equal(d.sample({10}, g1), d.sample({10}, g2)));
}

TEST(Gamma, RsampleValuesEqualSampleAndGradientInRateIsExact) {
  // x = z / b with z independent of b: dx/db = -x/b, and finite differences with the same seed agree.
  const double a = 2.3;
  auto rate = at::tensor({0.7, 4.0}, f64());
  auto draw = [&](const at::Tensor& b) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
    return Gamma(scalar64(a), b).rsample({5}, gen);
  };
  EXPECT_TRUE(at::allclose(autograd_gradient(draw, rate), finite_difference_gradient(draw, rate), 1e-7, 1e-9));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  auto plain = Gamma(scalar64(a), rate).sample({5}, gen);
  EXPECT_TRUE(at::equal(plain, draw(rate).detach()));
}

TEST(Gamma, ImplicitGradientOfOneDrawMatchesInverseCdfDifference) {
  // dx/da holding u = P(a, x) fixed, against a central difference of the quantile function.
  // ATen's _standard_gamma_grad is an approximation (Taylor series for x < 0.8, saddle point
  // for a > 8, a rational fit elsewhere): its worst relative error measured over 1800 draws
  // with a in [1e-3, 1e3] was 5.3e-4 (just above a = 8), hence a 1e-3 tolerance.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(21);
  for (double a : {1e-2, 0.2, 1.0, 3.0, 8.1, 50.0, 1e3}) {
    auto alpha = at::full({8}, a, f64()).requires_grad_(true);
    auto xs = Gamma(alpha, 1.0).rsample({}, gen);
    xs.sum().backward();
    auto grads = alpha.grad();
    for (int64_t i = 0; i < 8; ++i) {
      const double x = xs[i].item<double>();
      const double u = lower_regularized_gamma(a, x);
      if (u < 1e-6 || u > 1 - 1e-6) continue;
      const double h = 1e-5 * a;
      const double fd = (unit_gamma_quantile(a + h, u) - unit_gamma_quantile(a - h, u)) / (2 * h);
      EXPECT_NEAR(grads[i].item<double>(), fd, 1e-3 * std::abs(fd) + 1e-12) << "a=" << a << " x=" << x;
    }
  }
}

TEST(Gamma, PathwiseGradientsOfExpectationsMatchAnalytic) {
  // Each draw has its own copy of the parameters, so the per-draw gradients are independent
  // and their mean has a Monte-Carlo standard error.
  const int64_t n = 100000;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  for (double a : {0.3, 4.0}) {
    const double b = 1.6;
    for (int f = 0; f < 2; ++f) {
      auto alpha = at::full({n}, a, f64()).requires_grad_(true);
      auto beta = at::full({n}, b, f64()).requires_grad_(true);
      auto x = Gamma(alpha, beta).rsample({}, gen);
      (f == 0 ? x : x.log()).sum().backward();
      // E[x] = a/b; E[log x] = digamma(a) - log b.
      const double d_da = f == 0 ? 1 / b : trigamma_ref(a);
      const double d_db = f == 0 ? -a / (b * b) : -1 / b;
      auto ga = monte_carlo(alpha.grad());
      auto gb = monte_carlo(beta.grad());
      EXPECT_NEAR(ga.mean, d_da, kMonteCarloZ * ga.standard_error) << "a=" << a << " f=" << f;
      EXPECT_NEAR(gb.mean, d_db, kMonteCarloZ * gb.standard_error + 1e-12) << "a=" << a << " f=" << f;
    }
  }
}

TEST(Gamma, BroadcastsAndExpands) {
  Gamma d(at::ones({3, 1}, f64()), at::ones({4}, f64()));
  EXPECT_EQ(d.batch_shape(), (Shape{3, 4}));
  EXPECT_EQ(d.rsample({2}).sizes(), (at::IntArrayRef{2, 3, 4}));
  EXPECT_EQ(d.log_prob(at::ones({3, 4}, f64())).scalar_type(), at::kDouble);
  auto e = d.expand({5, 3, 4});
  EXPECT_EQ(e->batch_shape(), (Shape{5, 3, 4}));
  EXPECT_EQ(e->type_name(), "Gamma");
  EXPECT_TRUE(throws_error([&] { d.expand({2, 4}); }, "Gamma: cannot expand batch shape (3, 4) to (2, 4)"));
}

TEST(Gamma, RejectsBadArgumentsNamingThem) {
  EXPECT_TRUE(throws_error(
      [] {
        Gamma(at::tensor({1.0, 0.0}, f64()), 1.0);
      },
      "Gamma: concentration must be positive, got 0 at index [1]"));
  EXPECT_TRUE(throws_error(
      [] {
        Gamma(1.0, at::tensor({2.0, -1.5}, f64()));
      },
      "Gamma: rate must be positive, got -1.5 at index [1]"));
  EXPECT_TRUE(throws_error([] { Gamma(at::ones({3}, f64()), at::ones({2}, f64())); },
                           "Gamma: parameters of shapes (3) and (2) do not broadcast"));
  Gamma d(2.0, 1.0);
  EXPECT_TRUE(throws_error(
      [&] {
        d.log_prob(at::tensor({1.0, -0.5}, f64()));
      },
      "Gamma: value outside the support positive"));
  EXPECT_TRUE(throws_error([&] { d.log_prob(at::tensor({0.0}, f64())); }, "Gamma: value outside the support positive"));
}
