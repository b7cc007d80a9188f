#include "amortize/dist/transforms/compose_transform.hpp"
#include "amortize/dist/transforms/affine_transform.hpp"
#include "amortize/dist/transforms/exp_transform.hpp"
#include "amortize/dist/transforms/independent_transform.hpp"
#include "amortize/dist/transforms/lower_cholesky_transform.hpp"
#include "amortize/dist/transforms/sigmoid_transform.hpp"
#include "amortize/dist/transforms/stick_breaking_transform.hpp"
#include "numeric_checks.hpp"

#include <gtest/gtest.h>

using namespace amortize;
using namespace amortize::dist;
using amortize::testing::autograd_jacobian;

namespace {
at::TensorOptions f64() { return at::TensorOptions().dtype(at::kDouble); }
double logabsdet(const at::Tensor& square) { return std::get<1>(at::linalg_slogdet(square)).item<double>(); }

template <class T, class... Args>
TransformPtr make(Args&&... args) {
  return std::make_shared<T>(std::forward<Args>(args)...);
}
}  // namespace

TEST(ComposeTransform, AppliesPartsLeftToRightAndInvertsRightToLeft) {
  ComposeTransform t({make<ExpTransform>(), make<AffineTransform>(1.0, 2.0)});
  auto x = at::tensor({-1.0, 0.0, 2.0}, f64());
  EXPECT_TRUE(at::allclose(t.forward(x), 1 + 2 * x.exp(), 0, 1e-14));
  EXPECT_TRUE(at::allclose(t.inverse(t.forward(x)), x, 0, 1e-14));
  EXPECT_EQ(t.name(), "compose(exp, affine)");
}

TEST(ComposeTransform, ElementwiseLogDetIsTheSumOfParts) {
  ComposeTransform t({make<SigmoidTransform>(), make<AffineTransform>(-1.0, 4.0)});
  auto x = at::tensor({-5.0, 0.3, 2.0}, f64());
  auto grad = amortize::testing::autograd_gradient([&](const at::Tensor& v) { return t.forward(v); }, x);
  EXPECT_TRUE(at::allclose(t.log_abs_det_jacobian(x, t.forward(x)), grad.abs().log(), 1e-12, 1e-12));
}

TEST(ComposeTransform, SumsElementwiseLogDetOverTheEventOfALaterVectorPart) {
  // exp acts per element, stick breaking per vector: the composite is a vector transform.
  ComposeTransform t({make<ExpTransform>(), make<StickBreakingTransform>()});
  EXPECT_EQ(t.domain_event_dim(), 1);
  EXPECT_EQ(t.codomain_event_dim(), 1);
  EXPECT_EQ(t.codomain().kind(), ConstraintKind::Simplex);
  EXPECT_EQ(t.forward_shape({2, 3}), (Shape{2, 4}));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  auto x = at::randn({5, 3}, gen, f64());
  auto ladj = t.log_abs_det_jacobian(x, t.forward(x));
  ASSERT_EQ(ladj.sizes(), (at::IntArrayRef{5}));
  for (int64_t i = 0; i < 5; ++i) {
    auto head = [&](const at::Tensor& v) { return t.forward(v).narrow(-1, 0, 3); };
    EXPECT_NEAR(ladj[i].item<double>(), logabsdet(autograd_jacobian(head, x[i])), 1e-10);
  }
}

TEST(ComposeTransform, MatrixValuedPartRaisesTheCodomainEventDims) {
  ComposeTransform t({make<AffineTransform>(0.5, 2.0), make<LowerCholeskyTransform>()});
  EXPECT_EQ(t.domain_event_dim(), 1);
  EXPECT_EQ(t.codomain_event_dim(), 2);
  EXPECT_EQ(t.forward_shape({7, 6}), (Shape{7, 3, 3}));
  EXPECT_EQ(t.inverse_shape({7, 3, 3}), (Shape{7, 6}));
  auto x = at::randn({6}, f64());
  auto rows_cols = at::tril_indices(3, 3);
  auto lower_flat = rows_cols[0] * 3 + rows_cols[1];
  auto lower = [&](const at::Tensor& v) { return t.forward(v).reshape(-1).index_select(0, lower_flat); };
  EXPECT_NEAR(t.log_abs_det_jacobian(x, t.forward(x)).item<double>(), logabsdet(autograd_jacobian(lower, x)), 1e-10);
}

TEST(ComposeTransform, EmptyCompositionIsTheIdentity) {
  ComposeTransform t({});
  auto x = at::randn({2, 2}, f64());
  EXPECT_TRUE(at::equal(t.forward(x), x));
  EXPECT_TRUE(at::equal(t.log_abs_det_jacobian(x, x), at::zeros_like(x)));
}

TEST(IndependentTransform, SumsTheBaseLogDetOverReinterpretedDims) {
  IndependentTransform t(make<ExpTransform>(), 2);
  EXPECT_EQ(t.domain_event_dim(), 2);
  EXPECT_EQ(t.codomain().name(), "independent(positive, 2)");
  auto x = at::randn({4, 2, 3}, f64());
  auto ladj = t.log_abs_det_jacobian(x, t.forward(x));
  EXPECT_TRUE(at::allclose(ladj, x.sum({-1, -2}), 0, 1e-14));
  EXPECT_EQ(t.name(), "independent(exp, 2)");
}
