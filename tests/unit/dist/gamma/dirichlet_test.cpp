#include "amortize/dist/continuous/dirichlet.hpp"
#include "distribution_assertions.hpp"
#include "gamma_family_reference.hpp"
#include "numeric_checks.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

using namespace amortize;
using namespace amortize::dist;
using namespace amortize::testing;

namespace {
double dirichlet_log_density_ref(const std::vector<double>& a, const std::vector<double>& x) {
  double total = 0;
  double result = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    total += a[i];
    result += (a[i] == 1 ? 0.0 : (a[i] - 1) * std::log(x[i])) - std::lgamma(a[i]);
  }
  return result + std::lgamma(total);
}

at::Tensor vec(const std::vector<double>& v) { return at::tensor(v, f64()); }
}  // namespace

TEST(Dirichlet, LogProbMatchesClosedFormIncludingFaces) {
  const std::vector<std::vector<double>> concentrations = {
      {1.0, 1.0, 1.0}, {0.2, 3.0, 1.0}, {1e3, 5e2, 2.0}, {1.0, 0.5, 7.0}};
  const std::vector<std::vector<double>> points = {
      {0.2, 0.3, 0.5}, {1e-12, 0.5, 0.5 - 1e-12}, {0.0, 0.4, 0.6}, {0.7, 0.3, 0.0}, {0.0, 0.0, 1.0}};
  for (const auto& a : concentrations) {
    Dirichlet d(vec(a));
    for (const auto& x : points) {
      const double expected = dirichlet_log_density_ref(a, x);
      const double got = d.log_prob(vec(x)).item<double>();
      if (std::isinf(expected) || std::isnan(expected)) {
        // Zero coordinates with concentration above or below 1: the density is 0 or unbounded.
        EXPECT_TRUE(std::isinf(got) || std::isnan(expected)) << got;
      } else {
        double scale = std::abs(std::lgamma(a[0] + a[1] + a[2])) + 1;
        for (double ai : a) scale += std::abs(std::lgamma(ai)) + std::abs(ai * std::log(1e-12));
        EXPECT_NEAR(got, expected, 1e-13 * scale);
      }
    }
  }
  // The flat Dirichlet on 3 categories has density Gamma(3) = 2 everywhere, faces included.
  Dirichlet flat(vec({1.0, 1.0, 1.0}));
  EXPECT_NEAR(flat.log_prob(vec({0.0, 0.0, 1.0})).item<double>(), std::log(2.0), 1e-14);
}

TEST(Dirichlet, LogProbGradientsInConcentrationMatchFiniteDifferences) {
  auto x = vec({0.1, 0.3, 0.6, 0.5, 0.25, 0.25}).reshape({2, 3});
  auto lp = [&](const at::Tensor& a) { return Dirichlet(a).log_prob(x); };
  auto a = vec({0.4, 2.0, 9.0});
  EXPECT_TRUE(at::allclose(autograd_gradient(lp, a), finite_difference_gradient(lp, a), 1e-6, 1e-6));
}

TEST(Dirichlet, MomentsAndEntropyMatchClosedForm) {
  const std::vector<double> a = {0.3, 2.0, 5.0, 1.0};
  Dirichlet d(vec(a));
  double total = 0;
  for (double ai : a) total += ai;
  double entropy = -std::lgamma(total) + (total - 4) * digamma_ref(total);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_NEAR(d.mean()[i].item<double>(), a[i] / total, 1e-15);
    EXPECT_NEAR(d.variance()[i].item<double>(), a[i] * (total - a[i]) / (total * total * (total + 1)), 1e-15);
    entropy += std::lgamma(a[i]) - (a[i] - 1) * digamma_ref(a[i]);
  }
  EXPECT_NEAR(d.entropy().item<double>(), entropy, 1e-12);
}

TEST(Dirichlet, EntropyAndMomentsMatchMonteCarlo) {
  const int64_t n = 100000;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(41);
  Dirichlet d(vec({0.3, 2.0, 5.0}));
  auto xs = d.sample({n}, gen);
  EXPECT_EQ(xs.sizes(), (at::IntArrayRef{n, 3}));
  EXPECT_TRUE(constraints::simplex().check(xs).all().item<bool>());
  auto h = monte_carlo(-d.log_prob(xs));
  EXPECT_NEAR(h.mean, d.entropy().item<double>(), kMonteCarloZ * h.standard_error);
  for (int64_t i = 0; i < 3; ++i) {
    auto xi = xs.select(-1, i);
    auto m = monte_carlo(xi);
    EXPECT_NEAR(m.mean, d.mean()[i].item<double>(), kMonteCarloZ * m.standard_error);
    auto v = monte_carlo((xi - d.mean()[i]).square());
    EXPECT_NEAR(v.mean, d.variance()[i].item<double>(), kMonteCarloZ * v.standard_error);
  }
  // Covariance of coordinates 0 and 1: -a0 a1 / (A^2 (A+1)).
  const double total = 7.3;
  auto c = monte_carlo((xs.select(-1, 0) - 0.3 / total) * (xs.select(-1, 1) - 2.0 / total));
  EXPECT_NEAR(c.mean, -0.3 * 2.0 / (total * total * (total + 1)), kMonteCarloZ * c.standard_error);
}

TEST(Dirichlet, PathwiseGradientsOfExpectationsMatchAnalytic) {
  // d E[x_i] / d a_j = (delta_ij A - a_i) / A^2;  d E[log x_i] / d a_j = delta_ij psi'(a_i) - psi'(A).
  const int64_t n = 100000;
  const std::vector<double> a0 = {0.5, 1.5, 3.0};
  const double total = 5.0;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(43);
  for (int f = 0; f < 2; ++f) {
    for (int64_t i = 0; i < 3; ++i) {
      auto a = vec(a0).expand({n, 3}).clone().requires_grad_(true);
      auto x = Dirichlet(a).rsample({}, gen).select(-1, i);
      (f == 0 ? x : x.log()).sum().backward();
      for (int64_t j = 0; j < 3; ++j) {
        const double delta = i == j ? 1.0 : 0.0;
        const double expected =
            f == 0 ? (delta * total - a0[i]) / (total * total) : delta * trigamma_ref(a0[i]) - trigamma_ref(total);
        auto g = monte_carlo(a.grad().select(-1, j));
        EXPECT_NEAR(g.mean, expected, kMonteCarloZ * g.standard_error) << "f=" << f << " i=" << i << " j=" << j;
      }
    }
  }
}

TEST(Dirichlet, Float32DrawsAreOnTheSimplexForTinyConcentrations) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(47);
  Dirichlet d(at::tensor({0.01F, 0.02F, 0.5F}));
  auto xs = d.rsample({1000}, gen);
  EXPECT_EQ(xs.scalar_type(), at::kFloat);
  EXPECT_TRUE(constraints::simplex().check(xs).all().item<bool>());
  EXPECT_FALSE(at::isnan(d.log_prob(xs)).any().item<bool>());
}

TEST(Dirichlet, ShapesBroadcastAndExpand) {
  Dirichlet d(at::ones({2, 3, 4}, f64()));
  EXPECT_EQ(d.batch_shape(), (Shape{2, 3}));
  EXPECT_EQ(d.event_shape(), (Shape{4}));
  EXPECT_EQ(d.rsample({5}).sizes(), (at::IntArrayRef{5, 2, 3, 4}));
  EXPECT_EQ(d.log_prob(at::full({4}, 0.25, f64())).sizes(), (at::IntArrayRef{2, 3}));
  EXPECT_EQ(d.mean().sizes(), (at::IntArrayRef{2, 3, 4}));
  auto e = d.expand({7, 2, 3});
  EXPECT_EQ(e->batch_shape(), (Shape{7, 2, 3}));
  EXPECT_EQ(e->event_shape(), (Shape{4}));
  EXPECT_THROW(d.expand({3, 3}), DistributionError);
}

TEST(Dirichlet, RejectsBadArgumentsNamingThem) {
  EXPECT_TRUE(throws_error([] { Dirichlet(at::scalar_tensor(1.0, f64())); },
                           "Dirichlet: concentration must have at least one dimension, got shape ()"));
  EXPECT_TRUE(throws_error(
      [] {
        Dirichlet(vec({1.0, 0.0, 2.0}));
      },
      "Dirichlet: concentration must be positive, got 0 at index [1]"));
  Dirichlet d(vec({1.0, 2.0, 3.0}));
  EXPECT_TRUE(throws_error([&] { d.log_prob(vec({0.5, 0.6, 0.1})); }, "Dirichlet: value outside the support simplex"));
  EXPECT_TRUE(throws_error(
      [&] {
        d.log_prob(vec({0.5, 0.5}));
      },
      "Dirichlet: value of shape (2) does not end in the event shape (3)"));
}
