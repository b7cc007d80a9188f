// The non-amortized flow baseline: the per-element affine layer's log-determinant against the
// autograd Jacobian, rows acting on their own element only, and the guide built on it (no
// shared local parameters: the count grows with the plate; a step moves only its batch's rows).
#include "amortize/pavi/element_affine.hpp"
#include "amortize/infer/svi.hpp"
#include "amortize/model/handlers.hpp"
#include "amortize/model/param_store.hpp"
#include "amortize/pavi/gre.hpp"
#include "amortize/pavi/pavi_guide.hpp"
#include "numeric_checks.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "test_tensors.hpp"

using namespace amortize;
using namespace amortize::pavi;
using namespace pavi_tests;

TEST(ElementAffine, LogDetMatchesTheJacobianAndRowsActOnTheirOwnElement) {
  for (bool lower : {false, true}) {
    ElementAffineShape s{3, 2, lower, 0.2};
    auto g = gen(1);
    Tensor rows = at::randn({4, s.width()}, g, f64());
    Tensor parents = at::randn({4, 2}, g, f64());
    Tensor u = at::randn({4, 3}, g, f64());
    auto [z, log_det] = element_affine(u, rows, parents, s);
    ASSERT_EQ(z.sizes(), (std::vector<int64_t>{4, 3}));
    for (int64_t i = 0; i < 4; ++i) {
      Tensor jac = amortize::testing::autograd_jacobian(
          [&](const Tensor& x) { return element_affine(x, rows[i], parents[i], s).first; }, u[i]);
      EXPECT_NEAR(log_det[i].item<double>(), std::get<1>(at::linalg_slogdet(jac)).item<double>(), 1e-10);
      EXPECT_EQ(at::triu(jac, 1).abs().max().item<double>(), 0.0);
      if (!lower) {
        EXPECT_EQ((jac - at::diag(at::diagonal(jac))).abs().max().item<double>(), 0.0);
      }
      EXPECT_TRUE(at::allclose(z[i], element_affine(u[i], rows[i], parents[i], s).first, 1e-12, 1e-12));
    }
  }
  // Zero rows: z = init_scale * u.
  ElementAffineShape s{2, 0, false, 0.3};
  Tensor u = at::randn({5, 2}, gen(2), f64());
  EXPECT_TRUE(
      at::allclose(element_affine(u, at::zeros({5, s.width()}, f64()), Tensor(), s).first, 0.3 * u, 1e-12, 1e-12));
  EXPECT_THROW(element_affine(u, at::zeros({5, 3}, f64()), Tensor(), s), std::invalid_argument);
}

TEST(UnsharedGuide, NothingLocalIsSharedAndAStepMovesOnlyItsBatch) {
  auto count = [](int64_t groups) {
    auto data = generate_gre({groups, 3, 2, 1, {}, f64()});
    model::ParamStore store;
    model::ParamStoreScope scope(store);
    PaviOptions o;
    o.encoding = Encoding::Unshared;
    o.batch_size["groups"] = 2;
    PaviGuide guide([&] { GreModel{data.x, 2}(); }, o);
    model::SeedHandler seed(1);
    guide();
    return guide.n_parameters();
  };
  // loc 2 + scale 2 + coefficients on mu 2 x 2 per group.
  EXPECT_EQ(count(100) - count(10), (100 - 10) * 8);

  auto data = generate_gre({30, 3, 2, 2, {}, f64()});
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  infer::Program model = [&] { GreModel{data.x, 4}(); };
  PaviOptions o;
  o.encoding = Encoding::Unshared;
  o.batch_size["groups"] = 4;
  PaviGuide guide(model, o);
  infer::Svi svi(model, guide.program(), std::make_shared<infer::TraceElbo>(), {0.05, 3});
  svi.step();
  Tensor table = store.entry("pavi.element.mu_g").unconstrained;
  EXPECT_EQ(table.size(0), 30);
  Tensor batch = at::arange(4, at::TensorOptions().dtype(at::kLong)) * 7 + 1;
  guide.fix_indices("groups", batch);
  Tensor prev = table.detach().clone();
  svi.step();
  Tensor changed = (table.detach() != prev).any(1);
  EXPECT_TRUE(at::equal(changed.nonzero().flatten(), batch));
  // The shared parameters are only the global site's flow.
  for (const auto& name : guide.shared_parameter_names()) EXPECT_EQ(name.rfind("pavi.flow.mu$", 0), 0u) << name;
}
