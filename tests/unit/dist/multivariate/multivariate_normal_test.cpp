#include "amortize/dist/multivariate/multivariate_normal.hpp"
#include "amortize/dist/continuous/normal.hpp"
#include "dense_gaussian_reference.hpp"
#include "distribution_assertions.hpp"
#include "numeric_checks.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace amortize;
using namespace amortize::dist;
using namespace amortize::testing;

TEST(MultivariateNormal, LogProbMatchesDenseComputationWithBatchBroadcasting) {
  auto loc = random_tensor({2, 1, 3}, 1);
  auto tril = random_scale_tril({4}, 3, 2);
  MultivariateNormal d(loc, tril);
  EXPECT_EQ(d.batch_shape(), (Shape{2, 4}));
  EXPECT_EQ(d.event_shape(), (Shape{3}));
  auto x = random_tensor({5, 1, 1, 3}, 3, 2.0);
  auto lp = d.log_prob(x);
  ASSERT_EQ(lp.sizes(), (at::IntArrayRef{5, 2, 4}));
  auto cov = at::matmul(tril, tril.mT());
  auto expected = dense_log_density(x, loc, cov);
  EXPECT_TRUE(at::allclose(lp, expected, 1e-10, 1e-10)) << (lp - expected).abs().max();
  // A value with fewer batch dimensions than the distribution broadcasts too.
  auto v = random_tensor({3}, 4);
  EXPECT_TRUE(at::allclose(d.log_prob(v), dense_log_density(v, loc, cov), 1e-10, 1e-10));
}

TEST(MultivariateNormal, OneDimensionalCaseIsTheNormalDensity) {
  for (double scale : {1e-3, 0.7, 1e3}) {
    MultivariateNormal d(at::tensor({0.5}, f64()), at::full({1, 1}, scale, f64()));
    for (double x : {-1e3, -1.0, 0.5, 4.0}) {
      const double z = (x - 0.5) / scale;
      const double expected = -0.5 * z * z - std::log(scale) - 0.5 * std::log(2 * M_PI);
      EXPECT_NEAR(d.log_prob(at::tensor({x}, f64())).item<double>(), expected, 1e-9 * std::abs(expected) + 1e-12);
    }
    EXPECT_NEAR(d.entropy().item<double>(), 0.5 + 0.5 * std::log(2 * M_PI) + std::log(scale), 1e-12);
  }
}

TEST(MultivariateNormal, LogProbStaysFiniteForIllScaledFactors) {
  auto tril = at::diag_embed(at::tensor({1e-150, 1.0, 1e150}, f64()));
  MultivariateNormal d(0.0, tril);
  auto lp = d.log_prob(at::tensor({1e-150, 2.0, -1e150}, f64())).item<double>();
  const double expected = -0.5 * (1 + 4 + 1) - (std::log(1e-150) + std::log(1e150)) - 1.5 * std::log(2 * M_PI);
  EXPECT_NEAR(lp, expected, 1e-9);
}

TEST(MultivariateNormal, FactoriesAgreeWithScaleTril) {
  auto loc = random_tensor({2, 4}, 5);
  auto tril = random_scale_tril({2}, 4, 6);
  auto cov = at::matmul(tril, tril.mT());
  MultivariateNormal direct(loc, tril);
  auto from_cov = MultivariateNormal::from_covariance_matrix(loc, cov);
  auto from_precision = MultivariateNormal::from_precision_matrix(loc, at::inverse(cov));
  auto x = random_tensor({7, 2, 4}, 7);
  EXPECT_TRUE(at::allclose(from_cov.scale_tril(), tril, 1e-10, 1e-10));
  EXPECT_TRUE(at::allclose(from_cov.log_prob(x), direct.log_prob(x), 1e-10, 1e-10));
  EXPECT_TRUE(at::allclose(from_precision.covariance_matrix(), cov, 1e-9, 1e-9));
  EXPECT_TRUE(at::allclose(from_precision.log_prob(x), direct.log_prob(x), 1e-9, 1e-9));
  // The precision factory's factor is a valid lower Cholesky factor.
  auto l = from_precision.scale_tril();
  EXPECT_TRUE(constraints::lower_cholesky().check(l).all().item<bool>());
  EXPECT_TRUE(at::allclose(direct.precision_matrix(), at::inverse(cov), 1e-9, 1e-9));
}

TEST(MultivariateNormal, MomentsAndEntropyMatchDenseForms) {
  auto loc = random_tensor({3, 5}, 8);
  auto tril = random_scale_tril({3}, 5, 9);
  MultivariateNormal d(loc, tril);
  auto cov = at::matmul(tril, tril.mT());
  EXPECT_TRUE(at::allclose(d.mean(), loc));
  EXPECT_TRUE(at::allclose(d.variance(), cov.diagonal(0, -2, -1), 1e-12, 1e-12));
  EXPECT_TRUE(at::allclose(d.covariance_matrix(), cov, 1e-12, 1e-12));
  EXPECT_TRUE(at::allclose(d.entropy(), dense_entropy(cov), 1e-10, 1e-10));
  EXPECT_EQ(d.entropy().sizes(), (at::IntArrayRef{3}));
}

TEST(MultivariateNormal, LogProbGradientsMatchFiniteDifferences) {
  auto loc = random_tensor({2, 3}, 10);
  auto tril = random_scale_tril({2}, 3, 11);
  auto x = random_tensor({4, 2, 3}, 12);
  auto check = [](const std::function<at::Tensor(const at::Tensor&)>& f, const at::Tensor& at_point) {
    auto analytic = autograd_gradient(f, at_point);
    auto numeric = finite_difference_gradient(f, at_point);
    EXPECT_TRUE(at::allclose(analytic, numeric, 1e-6, 1e-6)) << (analytic - numeric).abs().max();
  };
  check([&](const at::Tensor& v) { return MultivariateNormal(loc, tril).log_prob(v); }, x);
  check([&](const at::Tensor& m) { return MultivariateNormal(m, tril).log_prob(x); }, loc);
  // Perturb only the lower triangle (entries above it are structurally zero).
  check([&](const at::Tensor& l) { return MultivariateNormal(loc, l.tril()).log_prob(x); }, tril);
}

TEST(MultivariateNormal, RsampleGradientsMatchFiniteDifferences) {
  auto loc = random_tensor({3}, 13);
  auto tril = random_scale_tril({}, 3, 14);
  auto draw = [](const at::Tensor& m, const at::Tensor& l) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(99);
    return MultivariateNormal(m, l.tril()).rsample({6}, gen);
  };
  auto f_loc = [&](const at::Tensor& m) { return draw(m, tril).sin(); };
  auto f_tril = [&](const at::Tensor& l) { return draw(loc, l).sin(); };
  EXPECT_TRUE(at::allclose(autograd_gradient(f_loc, loc), finite_difference_gradient(f_loc, loc), 1e-6, 1e-6));
  EXPECT_TRUE(at::allclose(autograd_gradient(f_tril, tril), finite_difference_gradient(f_tril, tril), 1e-6, 1e-6));
}

TEST(MultivariateNormal, SampleMeanAndCovarianceWithinMonteCarloError) {
  const int64_t n_draws = 40000;
  auto loc = at::tensor({1.0, -2.0, 0.5}, f64());
  auto tril = random_scale_tril({}, 3, 15);
  MultivariateNormal d(loc, tril);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(16);
  auto xs = d.sample({n_draws}, gen);
  ASSERT_EQ(xs.sizes(), (at::IntArrayRef{n_draws, 3}));
  EXPECT_FALSE(xs.requires_grad());
  auto cov = d.covariance_matrix();
  EXPECT_TRUE(sample_moments_match(xs, loc, cov));
  // A projection a^T x is N(a^T m, a^T S a): Kolmogorov-Smirnov against that normal.
  auto a = at::tensor({0.3, -1.0, 2.0}, f64());
  Normal projected(at::dot(a, loc), at::dot(a, at::matmul(cov, a)).sqrt());
  const double ks = ks_statistic(at::matmul(xs, a), [&](const at::Tensor& v) { return projected.cdf(v); });
  EXPECT_LT(ks, ks_critical_value(n_draws));
}

TEST(MultivariateNormal, PathwiseGradientMatchesAnalyticDerivative) {
  // E|x|^2 = |m|^2 + tr(L L^T): d/dm = 2 m and d/dL = 2 L.
  const int64_t n_draws = 40000;
  auto loc = at::tensor({0.5, -1.0}, f64()).requires_grad_(true);
  auto tril = at::tensor({1.2, 0.0, -0.4, 0.7}, f64()).reshape({2, 2}).requires_grad_(true);
  MultivariateNormal d(loc, tril);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(17);
  auto xs = d.rsample({n_draws}, gen);
  xs.square().sum(-1).mean().backward();
  // d/dm of the estimate is mean(2 x); its standard error is 2 sqrt(S_ii / N).
  auto cov = d.covariance_matrix().detach();
  for (int64_t i = 0; i < 2; ++i) {
    const double se = 2 * std::sqrt(cov[i][i].item<double>() / n_draws);
    EXPECT_NEAR(loc.grad()[i].item<double>(), 2 * loc[i].item<double>(), kMonteCarloZ * se);
  }
  // d/dL_ij of the estimate is mean(2 x_i eps_j); its standard error comes from the per-draw terms.
  auto eps = at::linalg_solve_triangular(tril.detach(), (xs.detach() - loc.detach()).t(), false).t();
  auto per_draw = 2 * xs.detach().unsqueeze(-1) * eps.unsqueeze(-2);
  auto se = per_draw.std(0) / std::sqrt(static_cast<double>(n_draws));
  auto err = (tril.grad() - 2 * tril.detach()).abs();
  EXPECT_TRUE((err.tril() <= kMonteCarloZ * se.tril() + 1e-12).all().item<bool>()) << err << se;
}

TEST(MultivariateNormal, ExpandKeepsDensity) {
  auto loc = random_tensor({3}, 18);
  auto tril = random_scale_tril({}, 3, 19);
  MultivariateNormal d(loc, tril);
  auto e = d.expand({4, 2});
  EXPECT_EQ(e->batch_shape(), (Shape{4, 2}));
  EXPECT_EQ(e->event_shape(), (Shape{3}));
  auto x = random_tensor({4, 2, 3}, 20);
  EXPECT_TRUE(at::allclose(e->log_prob(x), d.log_prob(x)));
  EXPECT_EQ(e->rsample({5}).sizes(), (at::IntArrayRef{5, 4, 2, 3}));
  EXPECT_EQ(e->entropy().sizes(), (at::IntArrayRef{4, 2}));
  EXPECT_THROW(d.expand({4, 2})->expand({3, 2}), DistributionError);
}

TEST(MultivariateNormal, Float32Works) {
  auto loc = random_tensor({2, 3}, 21);
  auto tril = random_scale_tril({2}, 3, 22);
  auto x = random_tensor({5, 2, 3}, 23);
  MultivariateNormal d32(loc.to(at::kFloat), tril.to(at::kFloat));
  MultivariateNormal d64(loc, tril);
  auto lp = d32.log_prob(x.to(at::kFloat));
  EXPECT_EQ(lp.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::allclose(lp.to(at::kDouble), d64.log_prob(x), 1e-4, 1e-4));
  EXPECT_EQ(d32.rsample({4}).scalar_type(), at::kFloat);
  EXPECT_EQ(d32.entropy().scalar_type(), at::kFloat);
  auto from_cov = MultivariateNormal::from_covariance_matrix(loc.to(at::kFloat), d32.covariance_matrix());
  EXPECT_TRUE(at::allclose(from_cov.scale_tril(), d32.scale_tril(), 1e-4, 1e-4));
}

TEST(MultivariateNormal, RejectsBadArgumentsNamingThem) {
  auto loc = at::zeros({2}, f64());
  EXPECT_TRUE(throws_error(
      [&] {
        MultivariateNormal(loc, at::tensor({1.0, 0.5, 0.0, 1.0}, f64()).reshape({2, 2}));
      },
      "MultivariateNormal: scale_tril must be lower triangular, got 0.5 above the diagonal at index [0, 1]"));
  EXPECT_TRUE(throws_error(
      [&] {
        MultivariateNormal(loc, at::tensor({1.0, 0.0, 0.3, -1.0}, f64()).reshape({2, 2}));
      },
      "MultivariateNormal: scale_tril diagonal must be positive, got -1 at index [1]"));
  EXPECT_TRUE(throws_error(
      [&] {
        MultivariateNormal(loc, at::tensor({1.0, 0.0, 0.3, 0.0}, f64()).reshape({2, 2}));
      },
      "MultivariateNormal: scale_tril diagonal must be positive, got 0 at index [1]"));
  EXPECT_TRUE(throws_error([&] { MultivariateNormal(at::zeros({3}, f64()), at::eye(2, f64())); },
                           "MultivariateNormal: loc of shape (3) does not match scale_tril of shape (2, 2)"));
  EXPECT_TRUE(throws_error(
      [&] {
        MultivariateNormal(at::zeros({2, 3}, f64()), at::eye(3, f64()).expand({4, 3, 3}));
      },
      "MultivariateNormal: batch shapes of loc (2, 3) and scale_tril (4, 3, 3) do not broadcast"));
  EXPECT_TRUE(throws_error(
      [&] {
        MultivariateNormal(loc, at::ones({2, 3}, f64()));
      },
      "MultivariateNormal: scale_tril must have shape (..., n, n) with n >= 1, got (2, 3)"));
  EXPECT_TRUE(throws_error(
      [&] {
        MultivariateNormal(at::tensor({NAN, 0.0}, f64()), at::eye(2, f64()));
      },
      "MultivariateNormal: loc must be finite"));
  EXPECT_TRUE(throws_error(
      [&] {
        MultivariateNormal::from_covariance_matrix(loc, at::tensor({1.0, 2.0, 2.0, 1.0}, f64()).reshape({2, 2}));
      },
      "MultivariateNormal: covariance_matrix must be positive definite"));
  EXPECT_TRUE(throws_error(
      [&] {
        MultivariateNormal::from_covariance_matrix(loc, at::tensor({1.0, 0.5, 0.0, 1.0}, f64()).reshape({2, 2}));
      },
      "MultivariateNormal: covariance_matrix must be symmetric"));
  EXPECT_TRUE(throws_error(
      [&] {
        MultivariateNormal::from_precision_matrix(loc, -at::eye(2, f64()).expand({3, 2, 2}));
      },
      "MultivariateNormal: precision_matrix must be positive definite, but its Cholesky factorisation "
      "failed (the matrix at batch index [0])"));
  EXPECT_TRUE(
      throws_error([&] { MultivariateNormal::from_covariance_matrix(at::zeros({3}, f64()), at::eye(2, f64())); },
                   "MultivariateNormal: loc of shape (3) does not match covariance_matrix of shape (2, 2)"));
  MultivariateNormal d(loc, at::eye(2, f64()));
  EXPECT_TRUE(throws_error([&] { d.log_prob(at::zeros({3}, f64())); },
                           "MultivariateNormal: value of shape (3) does not end in"));
}
