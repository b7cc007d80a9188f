// The fused per-particle log-density sum must equal, in value and in every gradient, the
// generic path it replaces: log_prob of each distribution, summed per particle and weighted.
#include "amortize/dist/continuous/delta.hpp"
#include "amortize/dist/continuous/gamma.hpp"
#include "amortize/dist/continuous/half_cauchy.hpp"
#include "amortize/dist/continuous/normal.hpp"
#include "amortize/dist/multivariate/multivariate_normal.hpp"
#include "amortize/dist/validation.hpp"
#include "amortize/infer/elbo.hpp"
#include "amortize/infer/fused_log_density.hpp"
#include "amortize/infer/guides/auto_continuous.hpp"
#include "amortize/infer/guides/auto_normal.hpp"
#include "amortize/model/handlers.hpp"
#include "amortize/model/param_store.hpp"
#include "amortize/model/primitives.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>
#include <limits>

using namespace amortize;
using infer::FusedLogDensitySum;

namespace {
at::Generator gen(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

Tensor leaf(const Tensor& t) { return t.detach().clone().set_requires_grad(true); }

// Elbo::per_particle's reduction, written out: sum everything but dim `pos` of a K-particle log p.
Tensor per_particle(const Tensor& lp, int64_t particles, int64_t particle_dim) {
  const int64_t pos = lp.dim() + particle_dim;
  if (particles > 1 && pos >= 0 && lp.size(pos) == particles) {
    return lp.movedim(pos, 0).reshape({particles, -1}).sum(1);
  }
  return lp.sum().expand({particles});
}

// Value and gradients of the fused sum and of the generic one agree to rounding.
::testing::AssertionResult same_sum_and_gradients(const Tensor& fused, const Tensor& generic,
                                                  const std::vector<Tensor>& inputs, double tol = 1e-10) {
  if (fused.sizes() != generic.sizes()) return ::testing::AssertionFailure() << "shapes differ";
  if (!at::allclose(fused, generic, tol, tol)) {
    return ::testing::AssertionFailure() << "sums differ: " << fused << " vs " << generic;
  }
  const Tensor weights = at::arange(1, fused.size(0) + 1, fused.options());
  const auto gf = torch::autograd::grad({(fused * weights).sum()}, inputs, {}, true, false, true);
  const auto gg = torch::autograd::grad({(generic * weights).sum()}, inputs, {}, true, false, true);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor a = gf[i].defined() ? gf[i] : at::zeros_like(inputs[i]);
    const Tensor b = gg[i].defined() ? gg[i] : at::zeros_like(inputs[i]);
    if (!at::allclose(a, b, tol, tol)) {
      return ::testing::AssertionFailure() << "gradient " << i << " differs:\n" << a << "\nvs\n" << b;
    }
  }
  return ::testing::AssertionSuccess();
}
}  // namespace

TEST(FusedLogDensitySum, NormalWithParticlesAndBroadcastMatchesGenericPath) {
  const auto o = at::TensorOptions().dtype(at::kDouble);
  const int64_t k = 4;
  auto g = gen(1);
  Tensor value = leaf(at::randn({k, 1, 3}, g, o));
  Tensor loc = leaf(at::randn({3}, g, o));
  Tensor log_scale = leaf(at::randn({}, g, o) * 0.3);
  dist::Normal d(loc, log_scale.exp());
  Tensor observed = at::randn({2, 3}, g, o);  // no particle dim: counts for every particle
  dist::Normal shared(loc, log_scale.exp());

  FusedLogDensitySum fused(k, -3);
  ASSERT_TRUE(fused.add(d, value, 0.5));
  ASSERT_TRUE(fused.add(shared, observed, -2.0));
  Tensor generic = 0.5 * per_particle(d.log_prob(value), k, -3) - 2.0 * per_particle(shared.log_prob(observed), k, -3);
  EXPECT_TRUE(same_sum_and_gradients(fused.sum(), generic, {value, loc, log_scale}));
}

TEST(FusedLogDensitySum, HalfCauchyBothBranchesAndOutsideSupport) {
  const auto o = at::TensorOptions().dtype(at::kDouble);
  Tensor value = leaf(at::tensor({1e-3, 0.3, 2.0, 40.0, 1e200}, o));
  Tensor scale = leaf(at::tensor({1.0, 0.5, 2.0, 3.0, 1.0}, o));
  dist::HalfCauchy d(scale);
  FusedLogDensitySum fused(1, -2);
  ASSERT_TRUE(fused.add(d, value, 1.0));
  EXPECT_TRUE(same_sum_and_gradients(fused.sum(), per_particle(d.log_prob(value), 1, -2), {value, scale}));

  // A negative value is outside the support: -inf, as log_prob gives.
  FusedLogDensitySum outside(1, -2);
  dist::ValidationScope unchecked(false);
  ASSERT_TRUE(outside.add(d, at::tensor({1.0, -0.5, 1.0, 1.0, 1.0}, o), 1.0));
  EXPECT_EQ(outside.sum().item<double>(), -std::numeric_limits<double>::infinity());
}

TEST(FusedLogDensitySum, MultivariateNormalMatchesGenericPathIncludingScaleTrilGradient) {
  const auto o = at::TensorOptions().dtype(at::kDouble);
  const int64_t k = 3, n = 4;
  auto g = gen(2);
  Tensor raw = at::randn({n, n}, g, o) * 0.3;
  Tensor tril = leaf(raw.tril(-1) + at::diag_embed(raw.diagonal().exp()));
  Tensor loc = leaf(at::randn({n}, g, o));
  Tensor value = leaf(at::randn({k, 1, n}, g, o));
  dist::MultivariateNormal d(loc, tril);
  FusedLogDensitySum fused(k, -2);
  ASSERT_TRUE(fused.add(d, value, -1.0));
  Tensor generic = -per_particle(d.log_prob(value), k, -2);
  // Only the lower triangle of scale_tril is a parameter (lower_cholesky); compare that part.
  Tensor weights = at::arange(1, k + 1, o);
  Tensor f = fused.sum();
  ASSERT_TRUE(at::allclose(f, generic, 1e-10, 1e-10)) << f << generic;
  auto gf = torch::autograd::grad({(f * weights).sum()}, {value, loc, tril});
  auto gg = torch::autograd::grad({(generic * weights).sum()}, {value, loc, tril});
  EXPECT_TRUE(at::allclose(gf[0], gg[0], 1e-10, 1e-10));
  EXPECT_TRUE(at::allclose(gf[1], gg[1], 1e-10, 1e-10));
  EXPECT_TRUE(at::allclose(gf[2].tril(), gg[2].tril(), 1e-10, 1e-10)) << gf[2] << gg[2];
}

TEST(FusedLogDensitySum, DeltaAtItsValueAndIndependentAndFloat32) {
  const auto o = at::TensorOptions().dtype(at::kFloat);
  auto g = gen(3);
  Tensor z = leaf(at::randn({2, 3}, g, o));
  Tensor value = z.exp();
  dist::Delta delta(value, -z.sum(-1), 1);
  Tensor loc = leaf(at::randn({3}, g, o));
  auto independent = dist::Normal(loc, 2.0).to_event(1);
  FusedLogDensitySum fused(1, -2);
  ASSERT_TRUE(fused.add(delta, delta.rsample(), 1.0));
  ASSERT_TRUE(fused.add(*independent, z, 3.0));
  // A value other than the Delta's own is left to the generic path.
  EXPECT_FALSE(fused.add(delta, value.detach().clone(), 1.0));
  Tensor generic = per_particle(delta.log_prob(delta.rsample()), 1, -2) + 3.0 * per_particle(independent->log_prob(z), 1, -2);
  EXPECT_EQ(fused.sum().scalar_type(), at::kFloat);
  EXPECT_TRUE(same_sum_and_gradients(fused.sum(), generic, {z, loc}, 1e-5));
}

TEST(FusedLogDensitySum, LeavesUnsupportedSitesToTheCaller) {
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  FusedLogDensitySum fused(1, -1);
  EXPECT_FALSE(fused.add(dist::Gamma(2.0, 1.0), at::ones({}, f64), 1.0));
  ASSERT_TRUE(fused.add(dist::Normal(at::zeros({}, f64), 1.0), at::ones({}, f64), 1.0));
  // One dtype per sum: a float32 site after a float64 one goes to the generic path.
  EXPECT_FALSE(fused.add(dist::Normal(at::zeros({}, at::kFloat), 1.0), at::ones({}, at::kFloat), 1.0));
  const auto big = FusedLogDensitySum::kMaxElements + 1;
  EXPECT_FALSE(fused.add(dist::Normal(at::zeros({big}, f64), 1.0), at::zeros({big}, f64), 1.0));
  EXPECT_FALSE(fused.empty());
}

TEST(FusedLogDensitySum, RefusesHigherOrderGradients) {
  const auto o = at::TensorOptions().dtype(at::kDouble);
  Tensor x = leaf(at::ones({2}, o));
  FusedLogDensitySum fused(1, -1);
  ASSERT_TRUE(fused.add(dist::Normal(at::zeros({}, o), 1.0), x, 1.0));
  EXPECT_THROW(torch::autograd::grad({fused.sum().sum()}, {x}, {}, true, /*create_graph=*/true), std::exception);
}

namespace {
// A small hierarchical model: every kind of site the fused sum takes, plus a Gamma it does not.
void hierarchical_model() {
  const auto o = at::TensorOptions().dtype(at::kDouble);
  auto mu = model::sample("mu", dist::Normal(at::zeros({}, o), 5.0));
  auto tau = model::sample("tau", dist::HalfCauchy(at::scalar_tensor(5.0, o)));
  auto nu = model::sample("nu", dist::Gamma(at::scalar_tensor(2.0, o), 1.0));
  auto schools = model::plate("schools", 4);
  auto theta = model::sample("theta", dist::Normal(mu, tau), schools);
  model::sample("y", dist::Normal(theta, nu + 1.0), schools, at::tensor({1.0, -2.0, 0.5, 3.0}, o));
}

// The ELBO's loss against log p - log q summed site by site with log_prob (no fused path).
template <class Guide>
::testing::AssertionResult elbo_matches_generic_sum(int64_t particles) {
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  Guide guide(hierarchical_model);
  infer::TraceElbo elbo(infer::ElboOptions{particles});
  Tensor loss;
  {
    model::SeedHandler seed(5);
    loss = elbo.loss(hierarchical_model, guide.program());
  }
  infer::TraceElbo runner(infer::ElboOptions{particles});
  infer::Elbo::Traces traces;
  {
    model::SeedHandler seed(5);
    traces = runner.run(hierarchical_model, guide.program());
  }
  const int64_t particle_dim = -(elbo.options().max_plate_nesting + 1);
  Tensor total = at::zeros({particles}, loss.options());
  for (const auto* trace : {&traces.model, &traces.guide}) {
    const double sign = trace == &traces.model ? 1.0 : -1.0;
    for (const auto& site : trace->sites()) {
      if (site.kind != model::SiteKind::Sample) continue;
      total = total + sign * site.scale * per_particle(site.log_prob(), particles, particle_dim);
    }
  }
  Tensor generic = -total.mean();
  const auto params = store.parameters();
  if (!at::allclose(loss, generic, 1e-10, 1e-10)) {
    return ::testing::AssertionFailure() << "loss " << loss.item<double>() << " vs " << generic.item<double>();
  }
  const auto gf = torch::autograd::grad({loss}, params, {}, false, false, true);
  const auto gg = torch::autograd::grad({generic}, params, {}, false, false, true);
  for (size_t i = 0; i < params.size(); ++i) {
    if (!at::allclose(gf[i], gg[i], 1e-9, 1e-9)) {
      return ::testing::AssertionFailure() << "gradient of " << store.names()[i] << " differs";
    }
  }
  return ::testing::AssertionSuccess();
}
}  // namespace

TEST(FusedLogDensitySum, TraceElboEqualsSiteBySiteSumForAutoNormal) {
  EXPECT_TRUE(elbo_matches_generic_sum<infer::AutoNormal>(1));
  EXPECT_TRUE(elbo_matches_generic_sum<infer::AutoNormal>(5));
}

TEST(FusedLogDensitySum, TraceElboEqualsSiteBySiteSumForAutoMultivariateNormal) {
  EXPECT_TRUE(elbo_matches_generic_sum<infer::AutoMultivariateNormal>(1));
  EXPECT_TRUE(elbo_matches_generic_sum<infer::AutoMultivariateNormal>(5));
}
