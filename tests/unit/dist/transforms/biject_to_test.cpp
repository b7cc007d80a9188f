#include "amortize/dist/transforms/biject_to.hpp"
#include "numeric_checks.hpp"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

using namespace amortize;
using namespace amortize::dist;
using amortize::testing::autograd_jacobian;

namespace {
at::TensorOptions f64() { return at::TensorOptions().dtype(at::kDouble); }

struct Case {
  Constraint constraint;
  int64_t unconstrained_size;  // length of the last dim of x (0: elementwise)
};

std::vector<Case> continuous_cases() {
  return {
      {constraints::real(), 0},
      {constraints::real_vector(), 4},
      {constraints::positive(), 0},
      {constraints::greater_than(1.5), 0},
      {constraints::greater_than(1000.0), 0},
      {constraints::less_than(-2.0), 0},
      {constraints::interval(-2.0, 3.0), 0},
      {constraints::interval(1.0, 1.5), 0},
      {constraints::unit_interval(), 0},
      {constraints::simplex(), 3},
      {constraints::lower_cholesky(), 6},
      {constraints::ordered_vector(), 4},
      {constraints::positive().with_extra_event_dims(1), 3},
      {constraints::interval(0.0, 2.0).with_extra_event_dims(2), 3},
  };
}

// Draws spread over a wide range, rows of +-30 everywhere, alternating +-30, and -1000 (where
// exp and sigmoid underflow).
at::Tensor unconstrained_values(const Case& c, at::ScalarType dtype) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  const int64_t n = c.unconstrained_size == 0 ? 5 : c.unconstrained_size;
  auto x = at::randn({10, n}, gen, f64()) * 10;
  x[6] = 30;
  x[7] = -30;
  x[8] = -1000;
  x[9] = 30 - 60 * (at::arange(n, f64()).remainder(2));
  if (c.constraint.extra_event_dims() == 2) x = x.view({2, 5, n});
  return x.to(dtype);
}
}  // namespace

TEST(BijectTo, ForwardLandsInTheConstraintForAnyRealInput) {
  for (const auto& c : continuous_cases()) {
    for (auto dtype : {at::kDouble, at::kFloat}) {
      auto t = biject_to(c.constraint);
      auto y = t->forward(unconstrained_values(c, dtype));
      EXPECT_EQ(y.scalar_type(), dtype) << c.constraint.name();
      EXPECT_TRUE(c.constraint.check(y).all().item<bool>())
          << t->name() << " onto " << c.constraint.name() << " in " << at::toString(dtype) << "\n"
          << y;
    }
  }
}

TEST(BijectTo, CodomainIsTheConstraint) {
  for (const auto& c : continuous_cases()) {
    auto t = biject_to(c.constraint);
    EXPECT_EQ(t->codomain().kind(), c.constraint.kind()) << t->name();
    EXPECT_EQ(t->codomain_event_dim(), c.constraint.event_dim()) << t->name();
    EXPECT_EQ(t->codomain().name(), c.constraint.name());
  }
}

TEST(BijectTo, RoundTripsModerateInputs) {
  for (const auto& c : continuous_cases()) {
    auto t = biject_to(c.constraint);
    auto x = unconstrained_values(c, at::kDouble) / 10;  // |x| < ~4: no saturation
    x = x.narrow(x.dim() == 3 ? 1 : 0, 0, 3);
    EXPECT_TRUE(at::allclose(t->inverse(t->forward(x)), x, 1e-9, 1e-9)) << t->name();
  }
}

TEST(BijectTo, LogDetHasOneValuePerEventAndMatchesTheJacobian) {
  // Elementwise constraints with one extra event dim: the Jacobian of a whole vector.
  for (const auto& c : {constraints::greater_than(1.5).with_extra_event_dims(1),
                        constraints::interval(-2.0, 3.0).with_extra_event_dims(1),
                        constraints::less_than(4.0).with_extra_event_dims(1)}) {
    auto t = biject_to(c);
    auto x = at::tensor({0.3, -1.2, 2.0, 1.0, 0.0, -3.0}, f64()).view({2, 3});
    auto ladj = t->log_abs_det_jacobian(x, t->forward(x));
    ASSERT_EQ(ladj.sizes(), (at::IntArrayRef{2})) << t->name();
    for (int64_t i = 0; i < 2; ++i) {
      auto jac = autograd_jacobian([&](const at::Tensor& v) { return t->forward(v); }, x[i]);
      EXPECT_NEAR(ladj[i].item<double>(), std::get<1>(at::linalg_slogdet(jac)).item<double>(), 1e-12) << t->name();
    }
  }
}

TEST(BijectTo, DiscreteConstraintsThrowNamingTheConstraint) {
  for (const auto& c :
       {constraints::boolean(), constraints::nonnegative_integer(), constraints::integer_interval(0, 5)}) {
    try {
      biject_to(c);
      FAIL() << "expected an error for " << c.name();
    } catch (const DistributionError& e) {
      EXPECT_NE(std::string(e.what()).find("biject_to: the discrete constraint " + c.name()), std::string::npos)
          << e.what();
    }
  }
}
