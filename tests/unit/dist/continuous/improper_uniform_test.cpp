#include "amortize/dist/continuous/improper_uniform.hpp"
#include "continuous_test_support.hpp"

using namespace amortize;
using namespace amortize::dist;
using namespace continuous_test;

TEST(ImproperUniform, LogProbIsZeroOfTheBroadcastBatchShape) {
  ImproperUniform dist(constraints::real(), {3}, {});
  auto lp = dist.log_prob(at::randn({2, 3}, f32()));
  EXPECT_EQ(lp.sizes(), (at::IntArrayRef{2, 3}));
  EXPECT_EQ(lp.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::all(lp == 0).item<bool>());
  auto lp64 = dist.log_prob(at::randn({1}, f64()));
  EXPECT_EQ(lp64.sizes(), (at::IntArrayRef{3}));
  EXPECT_EQ(lp64.scalar_type(), at::kDouble);
}

TEST(ImproperUniform, EventDimensionsAreReducedAndCheckedAgainstTheSupport) {
  ImproperUniform dist(constraints::positive(), {2}, {4});
  EXPECT_EQ(dist.support().event_dim(), 1);
  EXPECT_EQ(dist.log_prob(at::ones({5, 2, 4}, f64())).sizes(), (at::IntArrayRef{5, 2}));
  auto x = at::ones({2, 4}, f64());
  x[1][3] = -1.0;
  EXPECT_TRUE(
      throws_error([&] { dist.log_prob(x); }, "ImproperUniform: value outside the support independent(positive, 1)"));
  EXPECT_TRUE(throws_error(
      [&] {
        dist.log_prob(at::ones({2, 3}, f64()));
      },
      "ImproperUniform: value of shape (2, 3) does not end in the event shape (4)"));
  ImproperUniform on_simplex(constraints::simplex(), {}, {3});
  EXPECT_EQ(on_simplex.support().event_dim(), 1);
  EXPECT_EQ(on_simplex.log_prob(at::full({3}, 1.0 / 3, f64())).dim(), 0);
}

TEST(ImproperUniform, CannotBeSampled) {
  ImproperUniform dist(constraints::real(), {2}, {});
  EXPECT_FALSE(dist.has_rsample());
  EXPECT_TRUE(throws_error([&] { dist.sample({3}); }, "ImproperUniform: cannot be sampled"));
  EXPECT_TRUE(throws_error([&] { dist.rsample({3}, seeded(1)); }, "ImproperUniform: cannot be sampled"));
}

TEST(ImproperUniform, ExpandKeepsSupportAndEventShape) {
  ImproperUniform dist(constraints::positive(), {1}, {2}, f64());
  auto expanded = dist.expand({3, 4});
  EXPECT_EQ(expanded->batch_shape(), (Shape{3, 4}));
  EXPECT_EQ(expanded->event_shape(), (Shape{2}));
  EXPECT_EQ(expanded->support().name(), "independent(positive, 1)");
  EXPECT_EQ(expanded->options().dtype(), at::kDouble);
  EXPECT_TRUE(throws_error([] { ImproperUniform(constraints::real(), {2}, {}).expand({3}); },
                           "ImproperUniform: cannot expand batch shape (2) to (3)"));
}

TEST(ImproperUniform, RejectsBadShapesNamingThem) {
  EXPECT_TRUE(throws_error(
      [] { ImproperUniform(constraints::simplex(), {2}, {}); },
      "ImproperUniform: event shape () has fewer than the 1 dimensions of one value of the support simplex"));
  EXPECT_TRUE(throws_error(
      [] {
        ImproperUniform(constraints::real(), {2, -1}, {});
      },
      "ImproperUniform: batch shape (2, -1) has a negative size"));
}
