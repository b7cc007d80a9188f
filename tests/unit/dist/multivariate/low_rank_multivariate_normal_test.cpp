#include "amortize/dist/multivariate/low_rank_multivariate_normal.hpp"
#include "amortize/dist/multivariate/multivariate_normal.hpp"
#include "dense_gaussian_reference.hpp"
#include "distribution_assertions.hpp"
#include "numeric_checks.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace amortize;
using namespace amortize::dist;
using namespace amortize::testing;

namespace {
at::Tensor random_diag(std::vector<int64_t> shape, uint64_t seed) { return (0.5 * random_tensor(shape, seed)).exp(); }

at::Tensor dense_covariance(const at::Tensor& w, const at::Tensor& d) {
  return at::matmul(w, w.mT()) + at::diag_embed(d);
}
}  // namespace

TEST(LowRankMultivariateNormal, LogProbMatchesDenseComputationWithBatchBroadcasting) {
  auto loc = random_tensor({4}, 1);
  auto w = random_tensor({2, 1, 4, 2}, 2);
  auto d = random_diag({3, 4}, 3);
  LowRankMultivariateNormal dist(loc, w, d);
  EXPECT_EQ(dist.batch_shape(), (Shape{2, 3}));
  EXPECT_EQ(dist.event_shape(), (Shape{4}));
  EXPECT_EQ(dist.rank(), 2);
  auto x = random_tensor({5, 1, 3, 4}, 4, 2.0);
  auto lp = dist.log_prob(x);
  ASSERT_EQ(lp.sizes(), (at::IntArrayRef{5, 2, 3}));
  auto expected = dense_log_density(x, loc, dense_covariance(w, d));
  EXPECT_TRUE(at::allclose(lp, expected, 1e-10, 1e-10)) << (lp - expected).abs().max();
}

TEST(LowRankMultivariateNormal, LogProbEqualsDenseMultivariateNormalWithSameCovariance) {
  for (int64_t rank : {1, 3, 6}) {  // rank above n is allowed
    auto loc = random_tensor({2, 5}, 10 + rank);
    auto w = random_tensor({2, 5, rank}, 20 + rank);
    auto d = random_diag({2, 5}, 30 + rank);
    LowRankMultivariateNormal low_rank(loc, w, d);
    auto dense = MultivariateNormal::from_covariance_matrix(loc, low_rank.covariance_matrix());
    auto x = random_tensor({7, 2, 5}, 40 + rank);
    EXPECT_TRUE(at::allclose(low_rank.log_prob(x), dense.log_prob(x), 1e-10, 1e-10)) << rank;
    EXPECT_TRUE(at::allclose(low_rank.entropy(), dense.entropy(), 1e-10, 1e-10)) << rank;
  }
}

TEST(LowRankMultivariateNormal, OneDimensionalCaseIsTheNormalDensity) {
  // n = 1, r = 1: variance w^2 + d.
  LowRankMultivariateNormal dist(at::tensor({0.5}, f64()), at::full({1, 1}, 0.6, f64()), at::tensor({0.64}, f64()));
  const double scale = 1.0;  // sqrt(0.36 + 0.64)
  for (double x : {-1e3, -1.0, 0.5, 4.0}) {
    const double z = (x - 0.5) / scale;
    const double expected = -0.5 * z * z - 0.5 * std::log(2 * M_PI);
    EXPECT_NEAR(dist.log_prob(at::tensor({x}, f64())).item<double>(), expected, 1e-9 * std::abs(expected) + 1e-12);
  }
}

TEST(LowRankMultivariateNormal, DenseConversionsAndMoments) {
  auto loc = random_tensor({3, 4}, 50);
  auto w = random_tensor({3, 4, 2}, 51);
  auto d = random_diag({3, 4}, 52);
  LowRankMultivariateNormal dist(loc, w, d);
  auto cov = dense_covariance(w, d);
  EXPECT_TRUE(at::allclose(dist.covariance_matrix(), cov, 1e-12, 1e-12));
  EXPECT_TRUE(at::allclose(dist.variance(), cov.diagonal(0, -2, -1), 1e-12, 1e-12));
  EXPECT_TRUE(at::allclose(dist.mean(), loc));
  auto l = dist.scale_tril();
  EXPECT_TRUE(constraints::lower_cholesky().check(l).all().item<bool>());
  EXPECT_TRUE(at::allclose(at::matmul(l, l.mT()), cov, 1e-10, 1e-10));
  EXPECT_TRUE(at::allclose(dist.precision_matrix(), at::inverse(cov), 1e-9, 1e-9));
  EXPECT_TRUE(at::allclose(dist.entropy(), dense_entropy(cov), 1e-10, 1e-10));
  EXPECT_TRUE(at::allclose(dist.log_det_covariance(), at::logdet(cov), 1e-10, 1e-10));
}

TEST(LowRankMultivariateNormal, LogProbGradientsMatchFiniteDifferences) {
  auto loc = random_tensor({2, 4}, 60);
  auto w = random_tensor({2, 4, 2}, 61);
  auto d = random_diag({2, 4}, 62);
  auto x = random_tensor({3, 2, 4}, 63);
  auto check = [](const std::function<at::Tensor(const at::Tensor&)>& f, const at::Tensor& at_point) {
    auto analytic = autograd_gradient(f, at_point);
    auto numeric = finite_difference_gradient(f, at_point);
    EXPECT_TRUE(at::allclose(analytic, numeric, 1e-6, 1e-6)) << (analytic - numeric).abs().max();
  };
  check([&](const at::Tensor& v) { return LowRankMultivariateNormal(loc, w, d).log_prob(v); }, x);
  check([&](const at::Tensor& m) { return LowRankMultivariateNormal(m, w, d).log_prob(x); }, loc);
  check([&](const at::Tensor& f) { return LowRankMultivariateNormal(loc, f, d).log_prob(x); }, w);
  check([&](const at::Tensor& g) { return LowRankMultivariateNormal(loc, w, g).log_prob(x); }, d);
  check([&](const at::Tensor& g) { return LowRankMultivariateNormal(loc, w, g).entropy(); }, d);
}

TEST(LowRankMultivariateNormal, RsampleGradientsMatchFiniteDifferences) {
  auto loc = random_tensor({3}, 64);
  auto w = random_tensor({3, 2}, 65);
  auto d = random_diag({3}, 66);
  auto draw = [](const at::Tensor& m, const at::Tensor& f, const at::Tensor& g) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(98);
    return LowRankMultivariateNormal(m, f, g).rsample({6}, gen).sin();
  };
  auto f_loc = [&](const at::Tensor& m) { return draw(m, w, d); };
  auto f_w = [&](const at::Tensor& f) { return draw(loc, f, d); };
  auto f_d = [&](const at::Tensor& g) { return draw(loc, w, g); };
  EXPECT_TRUE(at::allclose(autograd_gradient(f_loc, loc), finite_difference_gradient(f_loc, loc), 1e-6, 1e-6));
  EXPECT_TRUE(at::allclose(autograd_gradient(f_w, w), finite_difference_gradient(f_w, w), 1e-6, 1e-6));
  EXPECT_TRUE(at::allclose(autograd_gradient(f_d, d), finite_difference_gradient(f_d, d), 1e-6, 1e-6));
}

TEST(LowRankMultivariateNormal, SampleMeanAndCovarianceWithinMonteCarloError) {
  const int64_t n_draws = 40000;
  auto loc = at::tensor({1.0, -2.0, 0.5}, f64());
  auto w = random_tensor({3, 2}, 67);
  auto d = random_diag({3}, 68);
  LowRankMultivariateNormal dist(loc, w, d);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(69);
  auto xs = dist.sample({n_draws}, gen);
  ASSERT_EQ(xs.sizes(), (at::IntArrayRef{n_draws, 3}));
  auto cov = dist.covariance_matrix();
  EXPECT_TRUE(sample_moments_match(xs, loc, cov));
}

TEST(LowRankMultivariateNormal, PathwiseGradientMatchesAnalyticDerivative) {
  // E|x|^2 = |m|^2 + |W|_F^2 + sum(D): d/dD = 1 and d/dW = 2 W.
  const int64_t n_draws = 40000;
  auto loc = at::tensor({0.5, -1.0}, f64());
  auto w = at::tensor({0.8, -0.3}, f64()).reshape({2, 1}).requires_grad_(true);
  auto d = at::tensor({0.5, 1.5}, f64()).requires_grad_(true);
  LowRankMultivariateNormal dist(loc, w, d);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(70);
  auto xs = dist.rsample({n_draws}, gen);
  xs.square().sum(-1).mean().backward();
  // Per draw, d/dD_i = x_i eps_i / sqrt(D_i) with eps_i = (x_i - m_i - (W z)_i) / sqrt(D_i); its
  // variance is bounded by E[x_i^2 eps_i^2] / D_i <= 3 E[x_i^2] / D_i (Cauchy-Schwarz, E eps^4 = 3).
  auto second_moment = loc.square() + dist.variance().detach();
  for (int64_t i = 0; i < 2; ++i) {
    const double bound = std::sqrt(3 * second_moment[i].item<double>() / d[i].item<double>() / n_draws);
    EXPECT_NEAR(d.grad()[i].item<double>(), 1.0, kMonteCarloZ * bound);
    // d/dW_i0 per draw is 2 x_i z with z ~ N(0, 1): variance <= 4 E[x_i^2 z^2] <= 12 E[x_i^2] likewise.
    const double bound_w = std::sqrt(4 * 3 * second_moment[i].item<double>() / n_draws);
    EXPECT_NEAR(w.grad()[i][0].item<double>(), 2 * w[i][0].item<double>(), kMonteCarloZ * bound_w);
  }
}

TEST(LowRankMultivariateNormal, ExpandKeepsDensity) {
  LowRankMultivariateNormal dist(random_tensor({3}, 71), random_tensor({3, 2}, 72), random_diag({3}, 73));
  auto e = dist.expand({4, 2});
  EXPECT_EQ(e->batch_shape(), (Shape{4, 2}));
  auto x = random_tensor({4, 2, 3}, 74);
  EXPECT_TRUE(at::allclose(e->log_prob(x), dist.log_prob(x)));
  EXPECT_EQ(e->rsample({5}).sizes(), (at::IntArrayRef{5, 4, 2, 3}));
  EXPECT_EQ(e->entropy().sizes(), (at::IntArrayRef{4, 2}));
}

TEST(LowRankMultivariateNormal, Float32Works) {
  auto loc = random_tensor({2, 3}, 75);
  auto w = random_tensor({2, 3, 2}, 76);
  auto d = random_diag({2, 3}, 77);
  auto x = random_tensor({5, 2, 3}, 78);
  LowRankMultivariateNormal d32(loc.to(at::kFloat), w.to(at::kFloat), d.to(at::kFloat));
  LowRankMultivariateNormal d64(loc, w, d);
  auto lp = d32.log_prob(x.to(at::kFloat));
  EXPECT_EQ(lp.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::allclose(lp.to(at::kDouble), d64.log_prob(x), 1e-4, 1e-4));
  EXPECT_EQ(d32.rsample({4}).scalar_type(), at::kFloat);
  EXPECT_TRUE(at::allclose(d32.entropy().to(at::kDouble), d64.entropy(), 1e-4, 1e-4));
}

TEST(LowRankMultivariateNormal, RejectsBadArgumentsNamingThem) {
  auto loc = at::zeros({2}, f64());
  auto w = at::ones({2, 1}, f64());
  EXPECT_TRUE(throws_error(
      [&] {
        LowRankMultivariateNormal(loc, w, at::tensor({1.0, -1.0}, f64()));
      },
      "LowRankMultivariateNormal: cov_diag must be positive, got -1 at index [1]"));
  EXPECT_TRUE(throws_error(
      [&] {
        LowRankMultivariateNormal(loc, w, at::tensor({0.0, 1.0}, f64()));
      },
      "LowRankMultivariateNormal: cov_diag must be positive, got 0 at index [0]"));
  EXPECT_TRUE(throws_error([&] { LowRankMultivariateNormal(at::zeros({3}, f64()), w, at::ones({2}, f64())); },
                           "LowRankMultivariateNormal: loc of shape (3) does not match cov_factor of shape (2, 1)"));
  EXPECT_TRUE(
      throws_error([&] { LowRankMultivariateNormal(loc, w, at::ones({3}, f64())); },
                   "LowRankMultivariateNormal: cov_diag of shape (3) does not match cov_factor of shape (2, 1)"));
  EXPECT_TRUE(throws_error([&] { LowRankMultivariateNormal(loc, at::ones({2}, f64()), at::ones({2}, f64())); },
                           "LowRankMultivariateNormal: cov_factor must have shape (..., n, r) with n >= 1, got (2)"));
  EXPECT_TRUE(throws_error(
      [&] {
        LowRankMultivariateNormal(at::zeros({3, 2}, f64()), w, at::ones({4, 2}, f64()));
      },
      "LowRankMultivariateNormal: batch shapes of loc (3, 2), cov_factor (2, 1) and cov_diag (4, 2) do not "
      "broadcast"));
  EXPECT_TRUE(throws_error(
      [&] {
        LowRankMultivariateNormal(loc, at::full({2, 1}, INFINITY, f64()), at::ones({2}, f64()));
      },
      "LowRankMultivariateNormal: cov_factor must be finite"));
}
