#include "amortize/dist/continuous/normal.hpp"
#include "amortize/dist/discrete/bernoulli.hpp"
#include "amortize/infer/elbo.hpp"
#include "amortize/infer/guides/auto_normal.hpp"
#include "amortize/infer/svi.hpp"
#include "amortize/model/handlers.hpp"
#include "amortize/model/param_store.hpp"
#include "amortize/model/primitives.hpp"
#include "normal_mean_model.hpp"

#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>

using namespace amortize;
using namespace amortize::infer;
using namespace amortize::model;
using amortize::dist::Normal;
using amortize::testing::f64;
using amortize::testing::NormalMean;

namespace {

void normal_guide_at(double m, double s) {
  sample("mu", Normal(param("m", at::scalar_tensor(m, f64())), param("s", at::scalar_tensor(s, f64()),
                                                                          dist::constraints::positive())));
}
}  // namespace

TEST(TraceElbo, ParticleEstimateMatchesExactElbo) {
  NormalMean model;
  ParamStore store;
  ParamStoreScope scope(store);
  const double m = 0.4, s = 0.3;
  TraceElbo elbo({/*num_particles=*/4000});
  SeedHandler seed(3);
  auto guide = [&] { normal_guide_at(m, s); };
  auto traces = elbo.run([&] { model(); }, guide);
  EXPECT_EQ(traces.guide.at("mu").value.sizes(), (at::IntArrayRef{4000, 1}));
  elbo.loss([&] { model(); }, guide);
  // Per-particle ELBO terms vary with mu: their sd bounds the MC error of the mean.
  const double exact = model.exact_elbo(m, s);
  const double per_particle_sd = 20 * s * std::abs(model.x.mean().item<double>() - m) + 20 * s * s;
  EXPECT_NEAR(elbo.last_elbo(), exact, 4 * per_particle_sd / std::sqrt(4000.0));
}

TEST(TraceMeanFieldElbo, AnalyticKlEstimateIsUnbiasedLikeThePlainOne) {
  NormalMean model;
  ParamStore store;
  ParamStoreScope scope(store);
  auto guide = [&] { normal_guide_at(0.7, 0.5); };
  TraceElbo plain({/*num_particles=*/4});
  TraceMeanFieldElbo analytic({4});
  SeedHandler seed(5);
  const int reps = 2000;
  std::vector<double> a, b;
  for (int r = 0; r < reps; ++r) {
    plain.loss([&] { model(); }, guide);
    analytic.loss([&] { model(); }, guide);
    a.push_back(plain.last_elbo());
    b.push_back(analytic.last_elbo());
  }
  auto moments = [](const std::vector<double>& v) {
    double m = 0, q = 0;
    for (double x : v) m += x / v.size();
    for (double x : v) q += (x - m) * (x - m) / (v.size() - 1);
    return std::make_pair(m, q);
  };
  auto [mean_plain, var_plain] = moments(a);
  auto [mean_analytic, var_analytic] = moments(b);
  const double exact = model.exact_elbo(0.7, 0.5);
  EXPECT_NEAR(mean_plain, exact, 4 * std::sqrt(var_plain / reps));
  EXPECT_NEAR(mean_analytic, exact, 4 * std::sqrt(var_analytic / reps));
  EXPECT_GT(var_plain, 0.0);
  EXPECT_GT(var_analytic, 0.0);
}

TEST(TraceElbo, GradientVanishesAtTheExactPosteriorOnly) {
  NormalMean model;
  auto mean_gradient = [&](double m, double s) {
    ParamStore store;
    ParamStoreScope scope(store);
    TraceElbo elbo({/*num_particles=*/20000});
    SeedHandler seed(9);
    auto loss = elbo.loss([&] { model(); }, [&] { normal_guide_at(m, s); });
    loss.backward();
    return store.entry("m").unconstrained.grad().item<double>();
  };
  const double sd = std::sqrt(model.post_var());
  const double at_optimum = mean_gradient(model.post_mean(), sd);
  // d/dm of -ELBO at (m, s) is (m - post_mean) / post_var; its single-particle noise is
  // (n + 1/prior^2) * s * |eps| ~ 1/post_var * s, so the mean of 20000 has sd s / post_var / 141.
  const double noise = sd / model.post_var() / std::sqrt(20000.0);
  EXPECT_NEAR(at_optimum, 0.0, 4 * noise);
  const double shifted = mean_gradient(model.post_mean() + sd, sd);
  EXPECT_NEAR(shifted, sd / model.post_var(), 4 * noise);
}

TEST(RenyiElbo, ImportanceWeightedBoundLiesBetweenElboAndEvidence) {
  NormalMean model;
  ParamStore store;
  ParamStoreScope scope(store);
  auto guide = [&] { normal_guide_at(0.2, 0.6); };  // a poor guide: the bounds separate
  SeedHandler seed(13);
  double iwae = 0, elbo_sum = 0;
  const int reps = 50;
  RenyiElbo iw(0.0, {/*num_particles=*/50});
  TraceElbo elbo({50});
  for (int r = 0; r < reps; ++r) {
    iw.loss([&] { model(); }, guide);
    elbo.loss([&] { model(); }, guide);
    iwae += iw.last_elbo() / reps;
    elbo_sum += elbo.last_elbo() / reps;
  }
  EXPECT_GT(iwae, elbo_sum + 1.0);
  EXPECT_LT(iwae, model.log_evidence() + 0.05);
  EXPECT_THROW(RenyiElbo(1.0, {}), std::invalid_argument);
}

TEST(TraceElbo, ScoreFunctionGradientIsUnbiasedForDiscreteGuides) {
  // z ~ Bernoulli(0.3), x = 1 ~ N(2z, 1); q(z) = Bernoulli(sigmoid(phi)). The exact ELBO is a sum
  // over z in {0, 1}, so its gradient in phi is known in closed form.
  const double phi = 0.2;
  auto model = [] {
    auto z = sample("z", dist::Bernoulli::from_probs(at::scalar_tensor(0.3, f64())));
    sample("x", Normal(2.0 * z, 1.0), at::scalar_tensor(1.0, f64()));
  };
  auto exact = [&](const Tensor& p) {
    auto q1 = at::sigmoid(p);
    auto lp = [](double z) { return std::log(z > 0 ? 0.3 : 0.7) - 0.5 * std::pow(1 - 2 * z, 2) - 0.5 * std::log(2 * M_PI); };
    return q1 * (lp(1) - at::log(q1)) + (1 - q1) * (lp(0) - at::log1p(-q1));
  };
  auto p = at::scalar_tensor(phi, f64()).requires_grad_(true);
  exact(p).backward();
  const double expected = -p.grad().item<double>();
  ParamStore store;
  ParamStoreScope scope(store);
  TraceElbo elbo({/*num_particles=*/1});
  SeedHandler seed(17);
  std::vector<double> grads;
  for (int i = 0; i < 4000; ++i) {
    auto guide = [&] { sample("z", dist::Bernoulli::from_logits(param("phi", at::scalar_tensor(phi, f64())))); };
    auto loss = elbo.loss(model, guide);
    auto g = torch::autograd::grad({loss}, {store.entry("phi").unconstrained})[0];
    grads.push_back(g.item<double>());
  }
  double mean = 0, var = 0;
  for (double g : grads) mean += g / grads.size();
  for (double g : grads) var += (g - mean) * (g - mean) / (grads.size() - 1);
  EXPECT_NEAR(mean, expected, 4 * std::sqrt(var / grads.size()));
}

TEST(Svi, AutoNormalRecoversTheConjugatePosterior) {
  NormalMean model;
  ParamStore store;
  ParamStoreScope scope(store);
  auto guide = std::make_shared<AutoNormal>([&] { model(); });
  Svi svi([&] { model(); }, guide->program(), std::make_shared<TraceMeanFieldElbo>(ElboOptions{8}), {0.02, 1});
  double loc_avg = 0, scale_avg = 0;
  const int steps = 3000, averaged = 1000;
  for (int i = 0; i < steps; ++i) {
    svi.step();
    if (i >= steps - averaged) {
      auto [loc, scale] = guide->loc_scale("mu");
      loc_avg += loc.item<double>() / averaged;
      scale_avg += scale.item<double>() / averaged;
    }
  }
  const double sd = std::sqrt(model.post_var());
  EXPECT_NEAR(loc_avg, model.post_mean(), 0.05 * sd);
  EXPECT_NEAR(scale_avg / sd, 1.0, 0.05);
}

TEST(TraceElbo, RejectsBatchDimsLeftOfThePlatesNamingTheSite) {
  // beta.unsqueeze(-2) pushes the particle dim out of place: summing would silently mix particles.
  Tensor X = at::ones({5, 2}, f64());
  Program model = [&] {
    auto beta = sample("beta", Normal(at::zeros({2}, f64()), 1.0).to_event(1));
    auto data = plate("data", 5);
    sample("y", Normal((X * beta.unsqueeze(-2)).sum(-1), 1.0), data, at::zeros({5}, f64()));
  };
  ParamStore store;
  ParamStoreScope scope(store);
  AutoNormal guide(model);
  TraceElbo elbo(ElboOptions{4});
  try {
    elbo.loss(model, guide.program());
    FAIL() << "expected a ModelError";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("site 'y'"), std::string::npos) << e.what();
  }
}
