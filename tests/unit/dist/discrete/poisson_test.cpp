#include "amortize/dist/discrete/poisson.hpp"

#include "discrete_test_support.hpp"

#include <cmath>
#include <limits>

using namespace amortize;
using namespace amortize::dist;
using namespace amortize::testing;

namespace {
const double kInf = std::numeric_limits<double>::infinity();

double poisson_lpmf(double k, double rate) {
  if (rate == 0) return k == 0 ? 0.0 : -kInf;
  return k * std::log(rate) - rate - std::lgamma(k + 1);
}
}  // namespace

TEST(Poisson, LogProbMatchesClosedFormIncludingRateZero) {
  for (double rate : {0.0, 1e-10, 0.3, 1.0, 7.5, 1e4}) {
    Poisson d(at::scalar_tensor(rate, f64()));
    for (double k : {0.0, 1.0, 2.0, 9.0, 150.0, 1e4}) {
      const double expected = poisson_lpmf(k, rate);
      const double actual = d.log_prob(at::scalar_tensor(k, f64())).item<double>();
      if (std::isinf(expected)) {
        EXPECT_EQ(actual, expected);
      } else {
        EXPECT_NEAR(actual, expected, 1e-12 * std::abs(expected) + 1e-14) << "rate " << rate << " k " << k;
      }
    }
  }
}

TEST(Poisson, AcceptsInt64ValuesAndFloat32Rates) {
  Poisson d(at::tensor({0.5, 4.0}, at::kFloat));
  auto lp = d.log_prob(at::tensor({0, 3}, at::kLong));
  EXPECT_EQ(lp.scalar_type(), at::kFloat);
  EXPECT_NEAR(lp[0].item<float>(), poisson_lpmf(0, 0.5), 1e-6);
  EXPECT_NEAR(lp[1].item<float>(), poisson_lpmf(3, 4.0), 1e-5);
  auto total = d.log_prob(at::arange(60, at::kFloat).unsqueeze(-1)).exp().sum(0);
  EXPECT_TRUE(at::allclose(total, at::ones({2}), 1e-5, 1e-5)) << total;
}

TEST(Poisson, GradientsMatchFiniteDifferences) {
  auto k = at::tensor({0.0, 2.0, 5.0, 30.0}, f64());
  auto rates = at::tensor({0.4, 2.5, 8.0, 28.0}, f64());
  auto lp = [&](const at::Tensor& r) { return Poisson(r).log_prob(k); };
  EXPECT_TRUE(at::allclose(autograd_gradient(lp, rates), finite_difference_gradient(lp, rates), 1e-6, 1e-6));
  // d/drate (-rate) = -1 at rate = 0, k = 0: finite, not NaN.
  auto at_zero = [&](const at::Tensor& r) { return Poisson(r).log_prob(at::zeros({1}, f64())); };
  EXPECT_NEAR(autograd_gradient(at_zero, at::zeros({1}, f64())).item<double>(), -1.0, 1e-12);
}

TEST(Poisson, SampleFrequenciesMatchTheMassFunction) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const double rate = 3.5;
  Poisson d(at::scalar_tensor(rate, f64()));
  auto xs = d.sample({40000}, gen);
  std::vector<double> pmf;
  for (int k = 0; k <= 12; ++k) pmf.push_back(std::exp(poisson_lpmf(k, rate)));
  EXPECT_TRUE(frequencies_match(xs, pmf));
}

TEST(Poisson, SampleMomentsMatchOverABatchIncludingRateZero) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(4);
  Poisson d(at::tensor({0.0, 0.8, 50.0}, at::kFloat));
  auto xs = d.sample({20000}, gen);
  EXPECT_EQ(xs.sizes(), (at::IntArrayRef{20000, 3}));
  EXPECT_TRUE((xs.select(1, 0) == 0).all().item<bool>());
  for (int64_t i = 1; i < 3; ++i) {
    EXPECT_TRUE(moments_match(xs.select(1, i), d.mean()[i].item<double>(), d.variance()[i].item<double>()));
  }
}

TEST(Poisson, MomentsExpandAndMissingEntropy) {
  Poisson d(at::tensor({2.0}, f64()));
  EXPECT_EQ(d.mean().item<double>(), 2.0);
  EXPECT_EQ(d.variance().item<double>(), 2.0);
  EXPECT_TRUE(throws_error([&] { d.entropy(); }, "Poisson: entropy is not available"));
  auto e = d.expand({3, 4});
  EXPECT_EQ(e->batch_shape(), (Shape{3, 4}));
  EXPECT_EQ(e->log_prob(at::zeros({3, 4}, f64())).sizes(), (at::IntArrayRef{3, 4}));
  EXPECT_EQ(d.support().name(), "nonnegative_integer");
}

TEST(Poisson, RejectsBadArgumentsNamingThem) {
  EXPECT_TRUE(throws_error(
      [] {
        Poisson(at::tensor({1.0, -1.0}, f64()));
      },
      "Poisson: rate must be non-negative, got -1 at index [1]"));
  EXPECT_TRUE(throws_error([] { Poisson(at::tensor({INFINITY}, f64())); }, "Poisson: rate must be finite, got inf"));
  Poisson d(1.0);
  EXPECT_TRUE(throws_error([&] { d.log_prob(at::scalar_tensor(-1.0)); },
                           "Poisson: value outside the support nonnegative_integer"));
  EXPECT_TRUE(throws_error([&] { d.log_prob(at::scalar_tensor(1.5)); },
                           "Poisson: value outside the support nonnegative_integer"));
}
