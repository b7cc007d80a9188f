#include "amortize/dist/transforms/affine_transform.hpp"
#include "amortize/dist/transforms/exp_transform.hpp"
#include "amortize/dist/transforms/identity_transform.hpp"
#include "amortize/dist/transforms/sigmoid_transform.hpp"
#include "amortize/dist/transforms/softplus_transform.hpp"
#include "assertions.hpp"
#include "numeric_checks.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

using namespace amortize;
using namespace amortize::dist;
using amortize::testing::autograd_gradient;
using amortize::testing::autograd_jacobian;
using amortize::testing::is_near;

namespace {
at::TensorOptions f64() { return at::TensorOptions().dtype(at::kDouble); }

const std::vector<double> kPoints = {-30.0, -10.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 10.0, 30.0};

double eps_of(at::ScalarType dtype) {
  return dtype == at::kDouble ? std::numeric_limits<double>::epsilon() : std::numeric_limits<float>::epsilon();
}

// inverse(forward(x)) == x up to the rounding of y (relative eps, carried back through dx/dy)
// and of the arithmetic (relative eps of x): 8 eps (|x| + |y| / |dy/dx| + 1).
// Fails at the first point off.
::testing::AssertionResult round_trips(const Transform& t, at::ScalarType dtype) {
  auto x = at::tensor(kPoints, f64());
  auto y64 = t.forward(x);
  auto dydx = t.log_abs_det_jacobian(x, y64).exp();
  auto tol = 8 * eps_of(dtype) * (x.abs() + y64.abs() / dydx + 1);
  auto back = t.inverse(t.forward(x.to(dtype))).to(at::kDouble);
  const auto forward_dtype = t.forward(x.to(dtype)).scalar_type();
  if (forward_dtype != dtype) {
    return ::testing::AssertionFailure() << t.name() << " maps " << at::toString(dtype) << " to "
                                         << at::toString(forward_dtype);
  }
  for (int64_t i = 0; i < x.numel(); ++i) {
    auto point = is_near(back[i].item<double>(), kPoints[i], tol[i].item<double>());
    if (!point) return point << " (" << t.name() << " in " << at::toString(dtype) << " at x = " << kPoints[i] << ")";
  }
  return ::testing::AssertionSuccess();
}

// For an elementwise transform the Jacobian is diagonal: log|dy_i/dx_i| by autograd.
::testing::AssertionResult log_det_matches_autograd(const Transform& t, const std::vector<double>& points) {
  auto x = at::tensor(points, f64());
  auto fwd = [&](const at::Tensor& v) { return t.forward(v); };
  auto expected = autograd_gradient(fwd, x).abs().log();
  auto actual = t.log_abs_det_jacobian(x, t.forward(x));
  if (at::allclose(actual, expected, 1e-12, 1e-12)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << t.name() << " log|det J|\n" << actual << "\nautograd\n" << expected;
}
}  // namespace

TEST(ExpTransform, RoundTripsIncludingExtremes) {
  ExpTransform t;
  EXPECT_TRUE(round_trips(t, at::kDouble));
  EXPECT_TRUE(round_trips(t, at::kFloat));
}

TEST(ExpTransform, LogDetMatchesAutograd) {
  ExpTransform t;
  EXPECT_TRUE(log_det_matches_autograd(t, kPoints));
}

TEST(SoftplusTransform, RoundTripsIncludingExtremes) {
  SoftplusTransform t;
  EXPECT_TRUE(round_trips(t, at::kDouble));
  EXPECT_TRUE(round_trips(t, at::kFloat));
}

TEST(SoftplusTransform, MatchesClosedFormWithoutOverflow) {
  SoftplusTransform t;
  for (auto dtype : {at::kDouble, at::kFloat}) {
    for (double x : {-800.0, -30.0, -1.0, 0.0, 2.0, 30.0, 800.0}) {
      // Where softplus underflows the output is held at the smallest normal number of the dtype.
      const double tiny = dtype == at::kDouble ? std::numeric_limits<double>::min() : std::numeric_limits<float>::min();
      const double expected = std::max(tiny, std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x))));
      const double y = t.forward(at::scalar_tensor(x, at::TensorOptions().dtype(dtype))).item<double>();
      EXPECT_NEAR(y, expected, 4 * eps_of(dtype) * std::abs(expected)) << "x = " << x << " " << at::toString(dtype);
    }
  }
}

TEST(SoftplusTransform, LogDetMatchesAutograd) {
  SoftplusTransform t;
  EXPECT_TRUE(log_det_matches_autograd(t, kPoints));
}

TEST(SoftplusTransform, GradientIsHalfAtZero) {
  auto g = autograd_gradient([](const at::Tensor& v) { return SoftplusTransform().forward(v); }, at::zeros({1}, f64()));
  EXPECT_DOUBLE_EQ(g.item<double>(), 0.5);
}

TEST(SigmoidTransform, RoundTripsIncludingExtremes) {
  SigmoidTransform t;
  EXPECT_TRUE(round_trips(t, at::kDouble));
}

TEST(SigmoidTransform, RoundTripsInFloat32WhereRepresentable) {
  // Above x ~ 16, sigmoid(x) rounds to 1 in float32; the clamp keeps it at 1 - eps.
  SigmoidTransform t;
  auto x = at::tensor({-30.0, -10.0, -1.0, 0.0, 1.0, 5.0, 10.0}, at::kFloat);
  auto back = t.inverse(t.forward(x));
  auto dydx = at::sigmoid(x.to(at::kDouble)) * at::sigmoid(-x.to(at::kDouble));
  auto tol = 8 * eps_of(at::kFloat) * (x.to(at::kDouble).abs() + 1 / dydx + 1);
  EXPECT_TRUE(((back.to(at::kDouble) - x.to(at::kDouble)).abs() <= tol).all().item<bool>()) << back;
}

TEST(SigmoidTransform, StaysStrictlyInsideUnitIntervalAtExtremes) {
  SigmoidTransform t;
  for (auto dtype : {at::kFloat, at::kDouble}) {
    auto x = at::tensor({-1e4, -100.0, -30.0, 30.0, 100.0, 1e4}, at::TensorOptions().dtype(dtype));
    auto y = t.forward(x);
    EXPECT_TRUE(((y > 0) & (y < 1)).all().item<bool>()) << y;
    auto back = t.inverse(y);
    EXPECT_TRUE(at::isfinite(back).all().item<bool>()) << back;
    EXPECT_TRUE((back.sign() == x.sign()).all().item<bool>()) << back;
    EXPECT_TRUE(at::isfinite(t.log_abs_det_jacobian(x, y)).all().item<bool>());
  }
}

TEST(SigmoidTransform, LogDetMatchesAutogradAndClosedFormAtExtremes) {
  EXPECT_TRUE(log_det_matches_autograd(SigmoidTransform(), {-10.0, -3.0, -1e-3, 0.0, 0.5, 4.0, 10.0}));
  SigmoidTransform t;
  for (double x : {-700.0, -30.0, 30.0, 700.0}) {
    // log sigmoid(x) + log sigmoid(-x) = -|x| - 2 log1p(exp(-|x|)).
    const double expected = -std::abs(x) - 2 * std::log1p(std::exp(-std::abs(x)));
    auto xt = at::scalar_tensor(x, f64());
    EXPECT_NEAR(t.log_abs_det_jacobian(xt, t.forward(xt)).item<double>(), expected, 1e-15 * std::abs(expected));
  }
}

TEST(IdentityTransform, IsTheIdentityWithZeroLogDet) {
  IdentityTransform t;
  auto x = at::randn({3, 2}, f64());
  EXPECT_TRUE(at::equal(t.forward(x), x));
  EXPECT_TRUE(at::equal(t.inverse(x), x));
  EXPECT_TRUE(at::equal(t.log_abs_det_jacobian(x, x), at::zeros({3, 2}, f64())));
}

TEST(AffineTransform, RoundTripsInBothDtypes) {
  AffineTransform t(2.5, -0.3);
  EXPECT_TRUE(round_trips(t, at::kDouble));
  EXPECT_TRUE(round_trips(t, at::kFloat));
}

TEST(AffineTransform, ElementwiseLogDetMatchesAutograd) {
  AffineTransform t(at::tensor({1.0, -2.0, 0.5}, f64()), at::tensor({0.2, -3.0, 7.0}, f64()));
  auto x = at::tensor({0.3, -1.0, 4.0}, f64());
  auto expected = autograd_gradient([&](const at::Tensor& v) { return t.forward(v); }, x).abs().log();
  EXPECT_TRUE(at::allclose(t.log_abs_det_jacobian(x, t.forward(x)), expected, 1e-13, 1e-13));
}

TEST(AffineTransform, EventDimSumsLogDetOverTheEvent) {
  auto scale = at::tensor({0.2, -3.0, 7.0}, f64());
  AffineTransform t(1.0, scale, /*event_dim=*/1);
  EXPECT_EQ(t.domain_event_dim(), 1);
  EXPECT_EQ(t.codomain_event_dim(), 1);
  auto x = at::randn({4, 3}, f64());
  auto ladj = t.log_abs_det_jacobian(x, t.forward(x));
  ASSERT_EQ(ladj.sizes(), (at::IntArrayRef{4}));
  for (int64_t i = 0; i < 4; ++i) {
    auto jac = autograd_jacobian([&](const at::Tensor& v) { return t.forward(v); }, x[i]);
    EXPECT_NEAR(ladj[i].item<double>(), std::get<1>(at::linalg_slogdet(jac)).item<double>(), 1e-13);
  }
}

TEST(AffineTransform, BroadcastsShapesAndKeepsInputDtype) {
  AffineTransform t(at::zeros({3, 1}, f64()), at::ones({4}, f64()));
  EXPECT_EQ(t.forward_shape({4}), (Shape{3, 4}));
  EXPECT_EQ(t.forward(at::zeros({4}, at::kFloat)).scalar_type(), at::kFloat);
  auto x = at::zeros({2, 1, 4}, f64());
  EXPECT_EQ(t.log_abs_det_jacobian(x, t.forward(x)).sizes(), (at::IntArrayRef{2, 3, 4}));
}

TEST(AffineTransform, KnowsItsImageOfABoundedDomain) {
  AffineTransform up(2.0, 3.0, 0, constraints::positive());
  EXPECT_EQ(up.codomain().kind(), ConstraintKind::GreaterThan);
  EXPECT_DOUBLE_EQ(up.codomain().lower().item<double>(), 2.0);
  AffineTransform down(2.0, -3.0, 0, constraints::positive());
  EXPECT_EQ(down.codomain().kind(), ConstraintKind::LessThan);
  AffineTransform box(at::scalar_tensor(-1.0, f64()), at::scalar_tensor(4.0, f64()), 0, constraints::unit_interval());
  EXPECT_EQ(box.codomain().kind(), ConstraintKind::Interval);
  EXPECT_DOUBLE_EQ(box.codomain().upper().item<double>(), 3.0);
  AffineTransform mixed(0.0, at::tensor({1.0, -1.0}, f64()), 0, constraints::positive());
  EXPECT_EQ(mixed.codomain().kind(), ConstraintKind::Real);
}

TEST(AffineTransform, StaysStrictlyAboveALowerBoundWhenTheShiftRoundsAway) {
  AffineTransform t(1000.0, 1.0, 0, constraints::positive());
  auto y = t.forward(at::tensor({1e-20, 1e-3}, f64()));
  EXPECT_TRUE(t.codomain().check(y).all().item<bool>()) << y;
  EXPECT_DOUBLE_EQ(y[1].item<double>(), 1000.001);
}
