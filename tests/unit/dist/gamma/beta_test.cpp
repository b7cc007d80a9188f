#include "amortize/dist/continuous/beta.hpp"
#include "amortize/dist/continuous/dirichlet.hpp"
#include "distribution_assertions.hpp"
#include "gamma_family_reference.hpp"
#include "numeric_checks.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace amortize;
using namespace amortize::dist;
using namespace amortize::testing;

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

// x^(a-1) (1-x)^(b-1) / B(a, b) in log space, with 0 * log 0 = 0 at the edges.
double beta_log_density_ref(double a, double b, double x) {
  const double left = a == 1 ? 0.0 : (a - 1) * std::log(x);
  const double right = b == 1 ? 0.0 : (b - 1) * std::log1p(-x);
  return left + right - log_beta_ref(a, b);
}
}  // namespace

TEST(Beta, LogProbMatchesClosedFormInsideAndAtTheEdges) {
  for (double a : {1e-2, 0.5, 1.0, 3.0, 1e3}) {
    for (double b : {0.3, 1.0, 2.0, 5e2}) {
      Beta d(scalar64(a), b);
      for (double x : {0.0, 1e-12, 0.25, 0.5, 0.999, 1.0}) {
        const double expected = beta_log_density_ref(a, b, x);
        const double got = d.log_prob(scalar64(x)).item<double>();
        if (std::isinf(expected)) {
          EXPECT_EQ(got, expected) << "a=" << a << " b=" << b << " x=" << x;
        } else {
          const double scale = std::abs(expected) + std::abs(std::lgamma(a)) + std::abs(std::lgamma(a + b)) + 1;
          EXPECT_NEAR(got, expected, 1e-13 * scale) << "a=" << a << " b=" << b << " x=" << x;
        }
      }
    }
  }
}

TEST(Beta, EdgesAreFiniteExactlyWhenTheDensityIs) {
  // Uniform: log 1 = 0 on the closed interval.
  Beta uniform(scalar64(1.0), 1.0);
  EXPECT_TRUE(at::allclose(uniform.log_prob(at::tensor({0.0, 0.5, 1.0}, f64())), at::zeros({3}, f64())));
  // Beta(1, 3) at 0 is log 3; Beta(3, 1) at 1 is log 3; Beta(2, 1) at 0 is log 0.
  EXPECT_NEAR(Beta(scalar64(1.0), 3.0).log_prob(scalar64(0.0)).item<double>(), std::log(3.0), 1e-14);
  EXPECT_NEAR(Beta(scalar64(3.0), 1.0).log_prob(scalar64(1.0)).item<double>(), std::log(3.0), 1e-14);
  EXPECT_EQ(Beta(scalar64(2.0), 1.0).log_prob(scalar64(0.0)).item<double>(), -kInf);
  EXPECT_EQ(Beta(scalar64(0.5), 1.0).log_prob(scalar64(0.0)).item<double>(), kInf);
}

TEST(Beta, GradientsAreFiniteAtTheEdgesWithUnitConcentration) {
  // At x = 0 with a = 1: d/db log p = d/db [-log B(1, b)] = d/db log b = 1/b, and d/dx = -(b-1)/(1-x).
  const double b = 3.0;
  auto params = at::tensor({1.0, b}, f64()).requires_grad_(true);
  auto value = at::tensor({0.0}, f64()).requires_grad_(true);
  Beta(params[0], params[1]).log_prob(value).sum().backward();
  EXPECT_NEAR(params.grad()[1].item<double>(), 1 / b, 1e-12);
  EXPECT_NEAR(value.grad()[0].item<double>(), -(b - 1), 1e-12);
  EXPECT_TRUE(at::isfinite(params.grad()).all().item<bool>());
}

TEST(Beta, LogProbGradientsMatchFiniteDifferences) {
  auto x = at::tensor({0.01, 0.4, 0.97}, f64());
  for (double a : {0.4, 2.0, 40.0}) {
    auto params = at::tensor({a, 1.3}, f64());
    auto lp_of_params = [&](const at::Tensor& p) { return Beta(p[0], p[1]).log_prob(x); };
    EXPECT_TRUE(at::allclose(autograd_gradient(lp_of_params, params), finite_difference_gradient(lp_of_params, params),
                             1e-6, 1e-6));
    auto lp_of_value = [&](const at::Tensor& v) { return Beta(a, 1.3).log_prob(v); };
    EXPECT_TRUE(
        at::allclose(autograd_gradient(lp_of_value, x), finite_difference_gradient(lp_of_value, x, 1e-7), 1e-6, 1e-6));
  }
}

TEST(Beta, AgreesWithTheTwoCategoryDirichlet) {
  auto a = at::tensor({0.3, 2.0, 7.0}, f64());
  auto b = at::tensor({1.0, 0.8, 4.0}, f64());
  auto x = at::tensor({0.2, 0.6, 0.95}, f64());
  Dirichlet dir(at::stack({a, b}, -1));
  EXPECT_TRUE(at::allclose(Beta(a, b).log_prob(x), dir.log_prob(at::stack({x, 1 - x}, -1)), 1e-12, 1e-12));
  EXPECT_TRUE(at::allclose(Beta(a, b).entropy(), dir.entropy(), 1e-12, 1e-12));
}

TEST(Beta, MomentsAndEntropyMatchClosedForm) {
  for (double a : {0.05, 1.0, 4.0, 1e3}) {
    for (double b : {0.5, 2.0, 3e2}) {
      Beta d(scalar64(a), b);
      const double t = a + b;
      EXPECT_NEAR(d.mean().item<double>(), a / t, 1e-14);
      EXPECT_NEAR(d.variance().item<double>(), a * b / (t * t * (t + 1)), 1e-15);
      const double entropy =
          log_beta_ref(a, b) - (a - 1) * digamma_ref(a) - (b - 1) * digamma_ref(b) + (t - 2) * digamma_ref(t);
      const double scale = std::abs(std::lgamma(t)) + std::abs(t * digamma_ref(t)) + std::abs(a * digamma_ref(a)) + 1;
      EXPECT_NEAR(d.entropy().item<double>(), entropy, 1e-12 * scale) << "a=" << a << " b=" << b;
    }
  }
}

TEST(Beta, SamplesPassKolmogorovSmirnovAgainstKnownCdfs) {
  const int64_t n = 20000;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(17);
  // Beta(2, 3): I_x(2, 3) = sum_{j=2..4} C(4, j) x^j (1-x)^(4-j).
  auto xs = Beta(scalar64(2.0), 3.0).sample({n}, gen);
  auto cdf23 = [](const at::Tensor& x) { return 6 * x.pow(2) * (1 - x).pow(2) + 4 * x.pow(3) * (1 - x) + x.pow(4); };
  EXPECT_LT(amortize::testing::ks_statistic(xs, cdf23), amortize::testing::ks_critical_value(n));
  // Beta(1/2, 1/2), the arcsine law: (2/pi) asin(sqrt(x)).
  auto ys = Beta(scalar64(0.5), 0.5).sample({n}, gen);
  auto arcsine = [](const at::Tensor& x) { return (2 / M_PI) * at::asin(x.sqrt()); };
  EXPECT_LT(amortize::testing::ks_statistic(ys, arcsine), amortize::testing::ks_critical_value(n));
}

TEST(Beta, SampleMeanAndVarianceMatch) {
  const int64_t n = 100000;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(23);
  for (auto ab : {std::pair<double, double>{0.2, 0.7}, {5.0, 1.5}, {300.0, 100.0}}) {
    Beta d(scalar64(ab.first), ab.second);
    auto xs = d.sample({n}, gen);
    auto m = monte_carlo(xs);
    EXPECT_NEAR(m.mean, d.mean().item<double>(), kMonteCarloZ * m.standard_error);
    auto centred = (xs - d.mean()).square();
    auto v = monte_carlo(centred);
    EXPECT_NEAR(v.mean, d.variance().item<double>(), kMonteCarloZ * v.standard_error);
  }
}

TEST(Beta, Float32DrawsStayInTheUnitIntervalForTinyConcentrations) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(29);
  Beta d(at::full({3}, 0.01, at::kFloat), at::tensor({0.01F, 1.0F, 50.0F}));
  auto xs = d.rsample({2000}, gen);
  EXPECT_EQ(xs.scalar_type(), at::kFloat);
  EXPECT_EQ(xs.sizes(), (at::IntArrayRef{2000, 3}));
  EXPECT_TRUE(((xs >= 0) & (xs <= 1)).all().item<bool>());
  EXPECT_FALSE(at::isnan(d.log_prob(xs)).any().item<bool>());
}

TEST(Beta, ImplicitGradientOfOneDrawMatchesInverseCdf) {
  // Beta(a, 1) has F(x) = x^a, so x = u^(1/a) and dx/da at fixed u = -x log(x) / a.
  // Beta(1, b) has 1 - x = (1-u)^(1/b), so dx/db at fixed u = (1-x) log(1-x) / b.
  // _dirichlet_grad is an approximation (series near the edges, saddle point for large
  // concentrations, a rational correction elsewhere): its worst relative error measured on
  // these two families over 4800 draws with concentrations in [0.01, 200] was 8e-4, hence 2e-3.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(31);
  for (double c : {0.01, 0.3, 1.0, 2.5, 20.0, 200.0}) {
    auto a = at::full({16}, c, f64()).requires_grad_(true);
    auto x = Beta(a, 1.0).rsample({}, gen);
    x.sum().backward();
    auto expected = -x.detach() * x.detach().log() / c;
    EXPECT_TRUE(at::allclose(a.grad(), expected, 2e-3, 1e-9)) << "a=" << c << "\n" << a.grad() << expected;
    auto b = at::full({16}, c, f64()).requires_grad_(true);
    auto y = Beta(1.0, b).rsample({}, gen);
    y.sum().backward();
    auto expected_b = (1 - y.detach()) * at::log1p(-y.detach()) / c;
    EXPECT_TRUE(at::allclose(b.grad(), expected_b, 2e-3, 1e-9)) << "b=" << c << "\n" << b.grad() << expected_b;
  }
}

TEST(Beta, PathwiseGradientsOfExpectationsMatchAnalytic) {
  const int64_t n = 100000;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(37);
  for (auto ab : {std::pair<double, double>{0.4, 2.0}, {3.0, 5.0}}) {
    const double a0 = ab.first;
    const double b0 = ab.second;
    const double t = a0 + b0;
    for (int f = 0; f < 2; ++f) {
      auto a = at::full({n}, a0, f64()).requires_grad_(true);
      auto b = at::full({n}, b0, f64()).requires_grad_(true);
      auto x = Beta(a, b).rsample({}, gen);
      (f == 0 ? x : x.log()).sum().backward();
      // E[x] = a/(a+b); E[log x] = digamma(a) - digamma(a+b).
      const double d_da = f == 0 ? b0 / (t * t) : trigamma_ref(a0) - trigamma_ref(t);
      const double d_db = f == 0 ? -a0 / (t * t) : -trigamma_ref(t);
      auto ga = monte_carlo(a.grad());
      auto gb = monte_carlo(b.grad());
      EXPECT_NEAR(ga.mean, d_da, kMonteCarloZ * ga.standard_error) << "a=" << a0 << " f=" << f;
      EXPECT_NEAR(gb.mean, d_db, kMonteCarloZ * gb.standard_error) << "a=" << a0 << " f=" << f;
    }
  }
}

TEST(Beta, BroadcastsAndExpands) {
  Beta d(at::ones({2, 1}, f64()), at::ones({3}, f64()));
  EXPECT_EQ(d.batch_shape(), (Shape{2, 3}));
  EXPECT_EQ(d.rsample({4}).sizes(), (at::IntArrayRef{4, 2, 3}));
  EXPECT_EQ(d.expand({5, 2, 3})->batch_shape(), (Shape{5, 2, 3}));
  EXPECT_TRUE(throws_error([&] { d.expand({3}); }, "Beta: cannot expand batch shape (2, 3) to (3)"));
}

TEST(Beta, RejectsBadArgumentsNamingThem) {
  EXPECT_TRUE(throws_error(
      [] {
        Beta(at::tensor({1.0, -1.0}, f64()), 1.0);
      },
      "Beta: concentration1 must be positive, got -1 at index [1]"));
  EXPECT_TRUE(throws_error([] { Beta(1.0, 0.0); }, "Beta: concentration0 must be positive, got 0"));
  EXPECT_TRUE(throws_error([] { Beta(at::ones({2}, f64()), at::ones({3}, f64())); },
                           "Beta: parameters of shapes (2) and (3) do not broadcast"));
  Beta d(2.0, 2.0);
  EXPECT_TRUE(throws_error(
      [&] {
        d.log_prob(at::tensor({0.5, 1.5}, f64()));
      },
      "Beta: value outside the support unit_interval"));
  EXPECT_TRUE(throws_error([&] { d.log_prob(scalar64(-1e-9)); }, "Beta: value outside the support unit_interval"));
}
