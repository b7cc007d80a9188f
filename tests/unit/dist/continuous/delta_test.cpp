#include "amortize/dist/continuous/delta.hpp"
#include "continuous_test_support.hpp"

#include <cmath>
#include <limits>

using namespace amortize;
using namespace amortize::dist;
using namespace continuous_test;

namespace {
constexpr double kMinusInf = -std::numeric_limits<double>::infinity();
}

TEST(Delta, LogProbIsLogDensityAtTheValueAndMinusInfinityElsewhere) {
  Delta dist(at::tensor({1.0, -2.0}, f64()), at::tensor({0.5, -3.0}, f64()));
  EXPECT_EQ(dist.batch_shape(), (Shape{2}));
  EXPECT_TRUE(dist.event_shape().empty());
  auto lp = dist.log_prob(at::tensor({1.0, -2.0, 1.0, 7.0}, f64()).reshape({2, 2}));
  EXPECT_EQ(lp.sizes(), (at::IntArrayRef{2, 2}));
  EXPECT_EQ(lp[0][0].item<double>(), 0.5);
  EXPECT_EQ(lp[0][1].item<double>(), -3.0);
  EXPECT_EQ(lp[1][0].item<double>(), 0.5);
  EXPECT_EQ(lp[1][1].item<double>(), kMinusInf);
  EXPECT_EQ(Delta(3.0).log_prob(d(3.0)).item<double>(), 0.0);
  EXPECT_EQ(Delta(3.0).log_prob(d(3.0 + 1e-12)).item<double>(), kMinusInf);
}

TEST(Delta, EventDimensionsAreMatchedAsAWhole) {
  auto value = at::tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, f32()).reshape({2, 3});
  Delta dist(value, 0.25, 1);
  EXPECT_EQ(dist.batch_shape(), (Shape{2}));
  EXPECT_EQ(dist.event_shape(), (Shape{3}));
  auto x = value.clone();
  x[1][2] = 0.0;
  auto lp = dist.log_prob(x);
  EXPECT_EQ(lp.scalar_type(), at::kFloat);
  EXPECT_EQ(lp[0].item<double>(), 0.25);
  EXPECT_EQ(lp[1].item<double>(), kMinusInf);
  EXPECT_EQ(dist.support().event_dim(), 1);
  EXPECT_TRUE(throws_error(
      [&] {
        dist.log_prob(at::zeros({2, 4}, f32()));
      },
      "Delta: value of shape (2, 4) does not end in the event shape (3)"));
}

TEST(Delta, RsampleReturnsTheValueAndCarriesGradientsToIt) {
  auto value = at::tensor({0.5, -1.5}, f64()).requires_grad_(true);
  Delta dist(value, 0.0);
  auto draws = dist.rsample({3}, seeded(1));
  EXPECT_EQ(draws.sizes(), (at::IntArrayRef{3, 2}));
  EXPECT_TRUE(at::equal(draws.detach(), value.detach().expand({3, 2})));
  (draws * at::tensor({1.0, 2.0}, f64())).sum().backward();
  EXPECT_TRUE(at::allclose(value.grad(), at::tensor({3.0, 6.0}, f64())));
  EXPECT_FALSE(dist.sample({2}).requires_grad());
  EXPECT_TRUE(gradient_matches([](const at::Tensor& v) { return Delta(v).rsample({4}).square(); },
                               at::tensor({0.3, 2.0}, f64())));
}

TEST(Delta, LogProbIsDifferentiableInLogDensity) {
  auto value = at::tensor({1.0, 2.0}, f64());
  EXPECT_TRUE(gradient_matches([&](const at::Tensor& w) { return Delta(value, w).log_prob(value) * 3.0; },
                               at::tensor({0.1, -0.4}, f64())));
}

TEST(Delta, MeanVarianceAndExpand) {
  Delta dist(at::tensor({1.0, 2.0}, f64()).reshape({1, 2}), at::zeros({1}, f64()), 1);
  EXPECT_TRUE(at::equal(dist.mean(), at::tensor({1.0, 2.0}, f64()).reshape({1, 2})));
  EXPECT_TRUE(at::equal(dist.variance(), at::zeros({1, 2}, f64())));
  auto expanded = dist.expand({4, 3});
  EXPECT_EQ(expanded->batch_shape(), (Shape{4, 3}));
  EXPECT_EQ(expanded->event_shape(), (Shape{2}));
  EXPECT_EQ(expanded->sample({5}).sizes(), (at::IntArrayRef{5, 4, 3, 2}));
  EXPECT_EQ(expanded->log_prob(at::tensor({1.0, 2.0}, f64())).sizes(), (at::IntArrayRef{4, 3}));
  EXPECT_TRUE(
      throws_error([] { Delta(at::zeros({2}, f64())).expand({3}); }, "Delta: cannot expand batch shape (2) to (3)"));
}

TEST(Delta, RejectsBadArgumentsNamingThem) {
  EXPECT_TRUE(throws_error([] { Delta(at::zeros({2}, f64()), 0.0, 2); },
                           "Delta: event_dim must be in [0, 1] for a value of shape (2), got 2"));
  EXPECT_TRUE(throws_error([] { Delta(at::zeros({2}, f64()), 0.0, -1); }, "got -1"));
  EXPECT_TRUE(throws_error(
      [] {
        Delta(at::zeros({2, 3}, f64()), at::zeros({2}, f64()), 0);
      },
      "Delta: log_density of shape (2) does not broadcast to the batch shape (2, 3)"));
  EXPECT_TRUE(throws_error(
      [] {
        Delta(at::zeros({3}, f64()), at::zeros({2, 3}, f64()), 0);
      },
      "Delta: log_density of shape (2, 3) does not broadcast to the batch shape (3)"));
  EXPECT_TRUE(throws_error(
      [] {
        Delta(at::zeros({2, 3}, f64()), at::zeros({3}, f64()), 1);
      },
      "Delta: log_density of shape (3) does not broadcast to the batch shape (2)"));
}
