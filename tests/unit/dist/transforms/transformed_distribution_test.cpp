#include "amortize/dist/transformed_distribution.hpp"
#include "amortize/dist/continuous/normal.hpp"
#include "amortize/dist/transforms/affine_transform.hpp"
#include "amortize/dist/transforms/exp_transform.hpp"
#include "amortize/dist/transforms/independent_transform.hpp"
#include "amortize/dist/transforms/lower_cholesky_transform.hpp"
#include "amortize/dist/transforms/stick_breaking_transform.hpp"
#include "numeric_checks.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace amortize;
using namespace amortize::dist;
using amortize::testing::autograd_gradient;
using amortize::testing::finite_difference_gradient;
using amortize::testing::kMonteCarloZ;

namespace {
at::TensorOptions f64() { return at::TensorOptions().dtype(at::kDouble); }

template <class T, class... Args>
TransformPtr make(Args&&... args) {
  return std::make_shared<T>(std::forward<Args>(args)...);
}

DistPtr make_log_normal(TensorArg mu, TensorArg sigma) {
  return std::make_shared<TransformedDistribution>(std::make_shared<Normal>(mu, sigma),
                                                   std::vector<TransformPtr>{make<ExpTransform>()});
}

double log_normal_log_density(double y, double mu, double sigma) {
  const double z = (std::log(y) - mu) / sigma;
  return -std::log(y) - std::log(sigma) - 0.5 * std::log(2 * M_PI) - 0.5 * z * z;
}
}  // namespace

TEST(TransformedDistribution, NormalThroughExpIsLogNormal) {
  for (double mu : {-5.0, 0.0, 1.3}) {
    for (double sigma : {1e-2, 0.7, 30.0}) {
      auto d = make_log_normal(at::scalar_tensor(mu, f64()), sigma);
      for (double y : {1e-200, 1e-30, 0.01, 1.0, 2.5, 1e30, 1e200}) {
        const double expected = log_normal_log_density(y, mu, sigma);
        EXPECT_NEAR(d->log_prob(at::scalar_tensor(y, f64())).item<double>(), expected,
                    1e-12 * std::abs(expected) + 1e-12)
            << "mu " << mu << " sigma " << sigma << " y " << y;
      }
    }
  }
}

TEST(TransformedDistribution, ShapesDtypeAndSupport) {
  auto d = make_log_normal(at::zeros({3, 1}, at::kFloat), at::ones({4}, at::kFloat));
  EXPECT_EQ(d->batch_shape(), (Shape{3, 4}));
  EXPECT_TRUE(d->event_shape().empty());
  EXPECT_EQ(d->support().kind(), ConstraintKind::Positive);
  EXPECT_TRUE(d->has_rsample());
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  auto x = d->rsample({2}, gen);
  EXPECT_EQ(x.sizes(), (at::IntArrayRef{2, 3, 4}));
  EXPECT_EQ(x.scalar_type(), at::kFloat);
  EXPECT_EQ(d->log_prob(x).sizes(), (at::IntArrayRef{2, 3, 4}));
  EXPECT_EQ(d->log_prob(x).scalar_type(), at::kFloat);
}

TEST(TransformedDistribution, StickBreakingTurnsTheLastBatchDimIntoASimplexEvent) {
  auto base = std::make_shared<Normal>(at::zeros({2, 3}, f64()), at::tensor({0.5, 1.0, 2.0}, f64()));
  TransformedDistribution d(base, {make<StickBreakingTransform>()});
  EXPECT_EQ(d.batch_shape(), (Shape{2}));
  EXPECT_EQ(d.event_shape(), (Shape{4}));
  EXPECT_EQ(d.support().kind(), ConstraintKind::Simplex);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  auto y = d.sample({7}, gen);
  EXPECT_EQ(y.sizes(), (at::IntArrayRef{7, 2, 4}));
  auto lp = d.log_prob(y);
  ASSERT_EQ(lp.sizes(), (at::IntArrayRef{7, 2}));
  StickBreakingTransform t;
  auto x = t.inverse(y);
  auto expected = base->log_prob(x).sum(-1) - t.log_abs_det_jacobian(x, y);
  EXPECT_TRUE(at::allclose(lp, expected, 1e-12, 1e-12));
}

TEST(TransformedDistribution, ElementwiseTransformWithEventDimsSumsOverThem) {
  // Exp on each of 3 coordinates taken as one event: the density of a vector of log-normals.
  auto base = std::make_shared<Normal>(at::tensor({0.0, 1.0, -1.0}, f64()), 0.5);
  TransformedDistribution d(base, {make<IndependentTransform>(make<ExpTransform>(), 1)});
  EXPECT_TRUE(d.batch_shape().empty());
  EXPECT_EQ(d.event_shape(), (Shape{3}));
  auto y = at::tensor({0.5, 2.0, 0.3, 1.0, 1.0, 1.0}, f64()).view({2, 3});
  auto lp = d.log_prob(y);
  ASSERT_EQ(lp.sizes(), (at::IntArrayRef{2}));
  const double mus[3] = {0.0, 1.0, -1.0};
  for (int64_t i = 0; i < 2; ++i) {
    double expected = 0;
    for (int64_t j = 0; j < 3; ++j) expected += log_normal_log_density(y[i][j].item<double>(), mus[j], 0.5);
    EXPECT_NEAR(lp[i].item<double>(), expected, 1e-12);
  }
}

TEST(TransformedDistribution, ChainsAcrossEventDims) {
  // Affine then lower-Cholesky: the affine log-det is summed over the vector the second part uses.
  auto base = std::make_shared<Normal>(at::zeros({6}, f64()), 1.0);
  TransformedDistribution d(base, {make<AffineTransform>(0.1, 2.0), make<LowerCholeskyTransform>()});
  EXPECT_TRUE(d.batch_shape().empty());
  EXPECT_EQ(d.event_shape(), (Shape{3, 3}));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(9);
  auto y = d.sample({4}, gen);
  auto lp = d.log_prob(y);
  ASSERT_EQ(lp.sizes(), (at::IntArrayRef{4}));
  LowerCholeskyTransform lc;
  auto v = lc.inverse(y);
  auto x = (v - 0.1) / 2.0;
  auto expected = base->log_prob(x).sum(-1) - 6 * std::log(2.0) - v.narrow(-1, 3, 3).sum(-1);
  EXPECT_TRUE(at::allclose(lp, expected, 1e-12, 1e-12)) << lp << expected;
}

TEST(TransformedDistribution, GradientsMatchFiniteDifferences) {
  auto params = at::tensor({0.3, 0.8}, f64());
  auto y = at::tensor({0.2, 1.0, 4.5}, f64());
  auto lp_of_params = [&](const at::Tensor& p) { return make_log_normal(p[0], p[1])->log_prob(y); };
  EXPECT_TRUE(at::allclose(autograd_gradient(lp_of_params, params), finite_difference_gradient(lp_of_params, params),
                           1e-6, 1e-6));
  auto lp_of_value = [&](const at::Tensor& v) { return make_log_normal(0.3, 0.8)->log_prob(v); };
  EXPECT_TRUE(at::allclose(autograd_gradient(lp_of_value, y), finite_difference_gradient(lp_of_value, y), 1e-6, 1e-6));
  auto draw = [&](const at::Tensor& p) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(17);
    return make_log_normal(p[0], p[1])->rsample({6}, gen);
  };
  EXPECT_TRUE(at::allclose(autograd_gradient(draw, params), finite_difference_gradient(draw, params), 1e-6, 1e-6));
}

TEST(TransformedDistribution, SamplesMatchLogNormalMomentsAndCdf) {
  const double mu = 0.4, sigma = 0.5;
  auto d = make_log_normal(at::scalar_tensor(mu, f64()), sigma);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(2024);
  const int64_t n = 20000;
  auto ys = d->sample({n}, gen);
  const double mean = std::exp(mu + 0.5 * sigma * sigma);
  const double var = (std::exp(sigma * sigma) - 1) * std::exp(2 * mu + sigma * sigma);
  EXPECT_NEAR(ys.mean().item<double>(), mean, kMonteCarloZ * std::sqrt(var / n));
  auto cdf = [&](const at::Tensor& v) { return 0.5 * at::erfc(-(v.log() - mu) / (sigma * std::sqrt(2.0))); };
  EXPECT_LT(amortize::testing::ks_statistic(ys, cdf), amortize::testing::ks_critical_value(n));
}

TEST(TransformedDistribution, PathwiseGradientOfTheMeanMatchesAnalytic) {
  // d/dmu E[y] = E[y] and d/dsigma E[y] = sigma E[y] for a log-normal.
  const double mu = 0.2, sigma = 0.6;
  auto params = at::tensor({mu, sigma}, f64()).requires_grad_(true);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(77);
  const int64_t n = 40000;
  auto ys = make_log_normal(params[0], params[1])->rsample({n}, gen);
  ys.mean().backward();
  auto g = params.grad();
  const double m = std::exp(mu + 0.5 * sigma * sigma);
  // Per-draw gradients are dy/dmu = y and dy/dsigma = y * eps: their spread sets the MC error.
  auto yd = ys.detach();
  auto eps = (yd.log() - mu) / sigma;
  const double se_mu = (yd.std().item<double>()) / std::sqrt(static_cast<double>(n));
  const double se_sigma = ((yd * eps).std().item<double>()) / std::sqrt(static_cast<double>(n));
  EXPECT_NEAR(g[0].item<double>(), m, kMonteCarloZ * se_mu);
  EXPECT_NEAR(g[1].item<double>(), sigma * m, kMonteCarloZ * se_sigma);
}

TEST(TransformedDistribution, ExpandBroadcastsTheBase) {
  auto d = make_log_normal(at::scalar_tensor(0.0, f64()), 1.0)->expand({4, 2});
  EXPECT_EQ(d->batch_shape(), (Shape{4, 2}));
  EXPECT_EQ(d->sample({3}).sizes(), (at::IntArrayRef{3, 4, 2}));
  auto base = std::make_shared<Normal>(at::zeros({3}, f64()), 1.0);
  auto simplex = TransformedDistribution(base, {make<StickBreakingTransform>()}).expand({5});
  EXPECT_EQ(simplex->batch_shape(), (Shape{5}));
  EXPECT_EQ(simplex->event_shape(), (Shape{4}));
  EXPECT_EQ(simplex->sample().sizes(), (at::IntArrayRef{5, 4}));
  EXPECT_THROW(d->expand({3}), DistributionError);
}

TEST(TransformedDistribution, RejectsValuesOutsideTheSupport) {
  auto d = make_log_normal(0.0, 1.0);
  try {
    d->log_prob(at::tensor({1.0, -1.0}, f64()));
    FAIL() << "expected an error";
  } catch (const DistributionError& e) {
    EXPECT_NE(std::string(e.what()).find("TransformedDistribution: value outside the support positive"),
              std::string::npos)
        << e.what();
  }
}

TEST(TransformedDistribution, RejectsABaseWithTooFewDimensions) {
  auto base = std::make_shared<Normal>(0.0, 1.0);
  try {
    TransformedDistribution d(base, {make<StickBreakingTransform>()});
    FAIL() << "expected an error";
  } catch (const DistributionError& e) {
    EXPECT_NE(std::string(e.what()).find("needs values with 1 event dims but the base Normal has shape ()"),
              std::string::npos)
        << e.what();
  }
}
