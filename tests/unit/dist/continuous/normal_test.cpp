#include "amortize/dist/continuous/normal.hpp"
#include "numeric_checks.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace amortize;
using namespace amortize::dist;
using amortize::testing::autograd_gradient;
using amortize::testing::finite_difference_gradient;

namespace {
at::TensorOptions f64() { return at::TensorOptions().dtype(at::kDouble); }
}

TEST(Normal, LogProbMatchesClosedForm) {
  for (double loc : {-3.0, 0.0, 2.5}) {
    for (double scale : {1e-3, 0.5, 1.0, 1e3}) {
      Normal d(at::scalar_tensor(loc, f64()), scale);
      for (double x : {-1e3, -2.0, 0.0, 0.3, 7.0}) {
        const double z = (x - loc) / scale;
        const double expected = -0.5 * z * z - std::log(scale) - 0.5 * std::log(2 * M_PI);
        EXPECT_NEAR(d.log_prob(at::scalar_tensor(x, f64())).item<double>(), expected, 1e-9 * std::abs(expected) + 1e-12);
      }
    }
  }
}

TEST(Normal, BroadcastsParametersAndKeepsDtype) {
  Normal d(at::zeros({3, 1}, f64()), at::ones({4}, f64()));
  EXPECT_EQ(d.batch_shape(), (Shape{3, 4}));
  EXPECT_EQ(d.log_prob(at::zeros({3, 4}, f64())).scalar_type(), at::kDouble);
  Normal f(at::zeros({2}, at::kFloat), 1.0);
  EXPECT_EQ(f.rsample({5}).scalar_type(), at::kFloat);
  EXPECT_EQ(f.rsample({5}).sizes(), (at::IntArrayRef{5, 2}));
}

TEST(Normal, GradientsMatchFiniteDifferences) {
  auto params = at::tensor({0.3, 1.7}, f64());
  auto x = at::tensor({-0.4, 2.0, 5.0}, f64());
  auto lp_of_params = [&](const at::Tensor& p) { return Normal(p[0], p[1]).log_prob(x); };
  EXPECT_TRUE(at::allclose(autograd_gradient(lp_of_params, params), finite_difference_gradient(lp_of_params, params),
                           1e-6, 1e-6));
  auto lp_of_value = [&](const at::Tensor& v) { return Normal(0.3, 1.7).log_prob(v); };
  EXPECT_TRUE(at::allclose(autograd_gradient(lp_of_value, x), finite_difference_gradient(lp_of_value, x), 1e-6, 1e-6));
}

TEST(Normal, SamplesPassKolmogorovSmirnov) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(42);
  Normal d(at::scalar_tensor(1.5, f64()), 2.0);
  auto xs = d.sample({20000}, gen);
  const double ks = amortize::testing::ks_statistic(xs, [&](const at::Tensor& v) { return d.cdf(v); });
  EXPECT_LT(ks, amortize::testing::ks_critical_value(xs.numel()));
  const double se = 2.0 / std::sqrt(20000.0);
  EXPECT_NEAR(xs.mean().item<double>(), 1.5, amortize::testing::kMonteCarloZ * se);
}

TEST(Normal, RejectsNonPositiveScaleNamingIt) {
  try {
    Normal d(0.0, at::tensor({1.0, -2.0}, f64()));
    FAIL() << "expected an error";
  } catch (const DistributionError& e) {
    EXPECT_NE(std::string(e.what()).find("Normal: scale must be positive, got -2 at index [1]"), std::string::npos)
        << e.what();
  }
}
