#include "amortize/dist/transforms/lower_cholesky_transform.hpp"
#include "amortize/dist/transforms/ordered_transform.hpp"
#include "amortize/dist/transforms/stick_breaking_transform.hpp"
#include "numeric_checks.hpp"

#include <gtest/gtest.h>

#include <limits>

using namespace amortize;
using namespace amortize::dist;
using amortize::testing::autograd_jacobian;

namespace {
at::TensorOptions f64() { return at::TensorOptions().dtype(at::kDouble); }

double logabsdet(const at::Tensor& square) { return std::get<1>(at::linalg_slogdet(square)).item<double>(); }

// Vectors exercising the middle and both saturated ends of each coordinate.
at::Tensor test_vectors(int64_t n) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  auto x = at::randn({6, n}, gen, f64()) * 3;
  x[4] = 30;
  x[5] = -30;
  return x;
}

// inverse(forward(x)) == x to a few ulps of the magnitudes involved.
::testing::AssertionResult round_trips(const Transform& t, const at::Tensor& x, at::ScalarType dtype) {
  const double eps =
      dtype == at::kDouble ? std::numeric_limits<double>::epsilon() : std::numeric_limits<float>::epsilon();
  auto xd = x.to(dtype);
  auto back = t.inverse(t.forward(xd));
  if (back.scalar_type() != dtype) {
    return ::testing::AssertionFailure() << t.name() << " round trip turns " << at::toString(dtype) << " into "
                                         << at::toString(back.scalar_type());
  }
  auto err = (back.to(at::kDouble) - xd.to(at::kDouble)).abs();
  auto tol = 64 * eps * (xd.to(at::kDouble).abs().max() + 1);
  if ((err <= tol).all().item<bool>()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << t.name() << " " << at::toString(dtype) << "\nx = " << xd
                                       << "\nback = " << back;
}
}  // namespace

TEST(StickBreakingTransform, MapsZeroToTheUniformSimplex) {
  StickBreakingTransform t;
  auto y = t.forward(at::zeros({4}, f64()));
  EXPECT_TRUE(at::allclose(y, at::full({5}, 0.2, f64()), 0, 1e-15)) << y;
}

TEST(StickBreakingTransform, LandsOnTheSimplexEvenWhenSaturated) {
  StickBreakingTransform t;
  for (auto dtype : {at::kDouble, at::kFloat}) {
    auto x = test_vectors(3).to(dtype);
    auto y = t.forward(x);
    EXPECT_EQ(y.sizes(), (at::IntArrayRef{6, 4}));
    EXPECT_TRUE(constraints::simplex().check(y).all().item<bool>()) << y;
  }
}

TEST(StickBreakingTransform, RoundTripsIncludingExtremes) {
  StickBreakingTransform t;
  EXPECT_TRUE(round_trips(t, test_vectors(3), at::kDouble));
  // In float32 coordinates of exp(-90) (x = +30 throughout) are below the normal range; this row
  // still saturates every sigmoid but keeps the coordinates near exp(-60).
  auto x = test_vectors(3);
  x[4][1] = -30;
  EXPECT_TRUE(round_trips(t, x, at::kFloat));
}

TEST(StickBreakingTransform, LogDetMatchesJacobianOfFirstKMinusOneCoordinates) {
  StickBreakingTransform t;
  auto x = test_vectors(4).narrow(0, 0, 4);  // the saturated rows have Jacobians below double range
  auto ladj = t.log_abs_det_jacobian(x, t.forward(x));
  ASSERT_EQ(ladj.sizes(), (at::IntArrayRef{4}));
  for (int64_t i = 0; i < x.size(0); ++i) {
    auto head = [&](const at::Tensor& v) { return t.forward(v).narrow(-1, 0, 4); };
    const double expected = logabsdet(autograd_jacobian(head, x[i]));
    EXPECT_NEAR(ladj[i].item<double>(), expected, 1e-10 * (1 + std::abs(expected))) << x[i];
  }
}

TEST(StickBreakingTransform, LogDetIsFiniteWhenSaturated) {
  StickBreakingTransform t;
  for (auto dtype : {at::kDouble, at::kFloat}) {
    auto x = at::tensor({30.0, -30.0, 30.0, -100.0, 100.0, -100.0}, at::TensorOptions().dtype(dtype)).view({2, 3});
    EXPECT_TRUE(at::isfinite(t.log_abs_det_jacobian(x, t.forward(x))).all().item<bool>());
  }
}

TEST(StickBreakingTransform, ShapesGainAndLoseOneCoordinate) {
  StickBreakingTransform t;
  EXPECT_EQ(t.forward_shape({2, 3}), (Shape{2, 4}));
  EXPECT_EQ(t.inverse_shape({2, 4}), (Shape{2, 3}));
  EXPECT_THROW(t.forward_shape({}), DistributionError);
}

TEST(OrderedTransform, ProducesIncreasingVectorsAndRoundTrips) {
  OrderedTransform t;
  auto x = test_vectors(5);
  x[4] = at::tensor({30.0, -30.0, 5.0, -30.0, 30.0}, f64());
  EXPECT_TRUE(constraints::ordered_vector().check(t.forward(x)).all().item<bool>());
  auto y0 = t.forward(at::tensor({1.0, 0.0, std::log(2.0)}, f64()));
  EXPECT_TRUE(at::allclose(y0, at::tensor({1.0, 2.0, 4.0}, f64()), 0, 1e-15)) << y0;
  EXPECT_TRUE(round_trips(t, x.narrow(0, 0, 4), at::kDouble));
}

TEST(OrderedTransform, RoundTripsInFloat32UpToTheConditioningOfDifferences) {
  // x_i = log(y_i - y_{i-1}): rounding y (relative eps) moves x_i by eps (|y_i| + |y_{i-1}|) / exp(x_i).
  OrderedTransform t;
  auto x = test_vectors(5).narrow(0, 0, 4);
  auto y = t.forward(x);
  auto spread = at::cat(
      {y.narrow(-1, 0, 1).abs(), (y.narrow(-1, 1, 4).abs() + y.narrow(-1, 0, 4).abs()) / x.narrow(-1, 1, 4).exp()}, -1);
  auto tol = 8 * std::numeric_limits<float>::epsilon() * (x.abs() + spread + 1);
  auto back = t.inverse(t.forward(x.to(at::kFloat))).to(at::kDouble);
  EXPECT_TRUE(((back - x).abs() <= tol).all().item<bool>()) << back - x << tol;
}

TEST(OrderedTransform, LogDetMatchesFullJacobian) {
  OrderedTransform t;
  auto x = test_vectors(5).narrow(0, 0, 4);
  auto ladj = t.log_abs_det_jacobian(x, t.forward(x));
  for (int64_t i = 0; i < x.size(0); ++i) {
    auto fwd = [&](const at::Tensor& v) { return t.forward(v); };
    const double expected = logabsdet(autograd_jacobian(fwd, x[i]));
    EXPECT_NEAR(ladj[i].item<double>(), expected, 1e-10 * (1 + std::abs(expected)));
  }
}

TEST(LowerCholeskyTransform, FillsTheLowerTriangleWithPositiveDiagonal) {
  LowerCholeskyTransform t;
  // Strict lower triangle row by row (y10, y20, y21), then log of the diagonal.
  auto x = at::tensor({1.0, 2.0, 3.0, 0.0, std::log(2.0), std::log(3.0)}, f64());
  auto y = t.forward(x);
  auto expected = at::tensor({1.0, 0.0, 0.0, 1.0, 2.0, 0.0, 2.0, 3.0, 3.0}, f64()).view({3, 3});
  EXPECT_TRUE(at::allclose(y, expected, 0, 1e-15)) << y;
  auto batch = test_vectors(6).to(at::kFloat);
  EXPECT_TRUE(constraints::lower_cholesky().check(t.forward(batch)).all().item<bool>());
}

TEST(LowerCholeskyTransform, RoundTrips) {
  LowerCholeskyTransform t;
  EXPECT_TRUE(round_trips(t, test_vectors(10), at::kDouble));
  EXPECT_TRUE(round_trips(t, test_vectors(10), at::kFloat));
}

TEST(LowerCholeskyTransform, LogDetMatchesJacobianOfTheLowerTriangle) {
  LowerCholeskyTransform t;
  auto x = test_vectors(6).narrow(0, 0, 4);
  auto ladj = t.log_abs_det_jacobian(x, t.forward(x));
  ASSERT_EQ(ladj.sizes(), (at::IntArrayRef{4}));
  auto rows_cols = at::tril_indices(3, 3);
  auto lower_flat = rows_cols[0] * 3 + rows_cols[1];
  for (int64_t i = 0; i < 4; ++i) {
    auto lower = [&](const at::Tensor& v) { return t.forward(v).reshape(-1).index_select(0, lower_flat); };
    const double expected = logabsdet(autograd_jacobian(lower, x[i]));
    EXPECT_NEAR(ladj[i].item<double>(), expected, 1e-10 * (1 + std::abs(expected)));
  }
}

TEST(LowerCholeskyTransform, ShapesAndBadLengths) {
  LowerCholeskyTransform t;
  EXPECT_EQ(t.forward_shape({5, 10}), (Shape{5, 4, 4}));
  EXPECT_EQ(t.inverse_shape({5, 4, 4}), (Shape{5, 10}));
  EXPECT_EQ(t.forward(at::zeros({2, 1}, f64())).sizes(), (at::IntArrayRef{2, 1, 1}));
  try {
    t.forward(at::zeros({5}, f64()));
    FAIL() << "expected an error";
  } catch (const DistributionError& e) {
    EXPECT_NE(std::string(e.what()).find("LowerCholeskyTransform: vector length 5 is not K(K+1)/2"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(t.inverse_shape({3, 4}), DistributionError);
}
