// fit_gre, the driver behind `amortize pavi fit` and the benchmarks: its measurements are
// filled and consistent for each method.
#include "amortize/pavi/gre_fit.hpp"
#include "amortize/model/handlers.hpp"
#include "amortize/pavi/gamma_laplace.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace amortize;
using namespace amortize::pavi;

TEST(FitGre, ReportsConsistentMeasurementsForEveryMethod) {
  GreDataOptions d;
  d.groups = 30;
  d.obs_per_group = 4;
  d.seed = 3;
  const auto data = generate_gre(d);
  const double log_evidence = gre_log_evidence(data.x);
  for (auto [method, encoding] : std::vector<std::pair<GreMethod, Encoding>>{{GreMethod::Pavi, Encoding::Free},
                                                                             {GreMethod::Pavi, Encoding::Set},
                                                                             {GreMethod::MeanField, Encoding::Free}}) {
    GreFitOptions o;
    o.method = method;
    o.encoding = encoding;
    o.batch = 10;
    o.steps = 400;
    o.evaluate_groups = 12;
    o.draws = 50;
    o.chunk = 5;  // several chunks
    const auto r = fit_gre(data, o);
    const std::string what = to_string(method, encoding);
    EXPECT_EQ(r.steps, 400) << what;
    EXPECT_EQ(r.elbo.size(), 400u) << what;
    EXPECT_TRUE(std::isfinite(r.final_elbo)) << what;
    // No guide beats the evidence by more than the estimate's noise.
    EXPECT_LT(r.final_elbo, log_evidence + 5.0) << what;
    EXPECT_EQ(r.latent_dims, 2 + 30 * 2) << what;
    EXPECT_GT(r.n_parameters, 0) << what;
    EXPECT_GT(r.peak_rss_mb, 1.0) << what;
    EXPECT_EQ(r.fitted.mu_g_mean.sizes(), (std::vector<int64_t>{12, 2})) << what;
    EXPECT_TRUE(at::all(r.fitted.mu_g_sd > 0).item<bool>()) << what;
    // A smoke check that the data were used: every group mean is well inside the prior's
    // spread (the prior sd of a group mean is 10 exact posterior sds here).
    EXPECT_LT(r.mu_g_mean_error_sd_max, 8.0) << what;
  }
  EXPECT_EQ(to_string(GreMethod::Pavi, Encoding::Set), "pavi-e");
}

TEST(GammaLaplace, ModelLogJointMatchesAHandComputation) {
  GammaLaplaceDataOptions d;
  d.groups = 6;
  d.obs_per_group = 3;
  d.seed = 4;
  d.options = at::TensorOptions().dtype(at::kDouble);
  const auto data = generate_gamma_laplace(d);
  EXPECT_TRUE(at::all(data.true_a > 0).item<bool>());
  model::TraceHandler tracer;
  {
    model::SeedHandler seed(2);
    GammaLaplaceModel{data.x, 2}();
  }
  const auto& tr = tracer.trace();
  Tensor a = tr.at("a").value, b = tr.at("b").value, idx = tr.at("groups").value;
  ASSERT_EQ(b.sizes(), (std::vector<int64_t>{2, 2}));
  // Gamma(1, 0.5): log 0.5 - 0.5 a; Laplace(a, 0.3): -log 0.6 - |b - a| / 0.3; Normal(b, 0.1).
  const double lp_a = (std::log(0.5) - 0.5 * a).sum().item<double>();
  const double lp_b = (-std::log(0.6) - (b - a).abs() / 0.3).sum().item<double>();
  Tensor xb = data.x.index_select(0, idx);
  const double lp_x =
      (-0.5 * ((xb - b.unsqueeze(1)) / 0.1).square() - std::log(0.1) - 0.5 * std::log(2 * M_PI)).sum().item<double>();
  EXPECT_NEAR(tr.log_prob_sum().item<double>(), lp_a + 3.0 * (lp_b + lp_x), 1e-9);
}

namespace {
// Fits gamma-laplace (200 groups of 4 drawn from the prior) and checks the summary of a: a
// calibrated posterior holds the true a within 4 of its sds (a normal tail of 6e-5 per
// coordinate); a guide that ignored the data (prior sd 2) or collapsed would not.
GammaLaplaceFit expect_fit_covers_true_a(const GreFitOptions& o) {
  GammaLaplaceDataOptions d;
  d.groups = 200;
  d.obs_per_group = 4;
  d.seed = 5;
  const auto data = generate_gamma_laplace(d);
  const auto r = fit_gamma_laplace(data, o);
  Tensor z = ((r.a_mean - data.true_a.to(at::kDouble)) / r.a_sd).abs();
  EXPECT_LT(z.max().item<double>(), 4.0) << "a " << r.a_mean << " sd " << r.a_sd << " true " << data.true_a;
  // The data pin a down: the posterior sd is far below the prior's (2).
  EXPECT_LT(r.a_sd.max().item<double>(), 0.1);
  EXPECT_EQ(r.latent_dims, 2 + 200 * 2);
  return r;
}
}  // namespace

TEST(GammaLaplace, PaviFitCoversTheTrueGlobalValue) {
  GreFitOptions o;
  o.encoding = Encoding::Set;
  o.batch = 50;
  o.steps = 1500;
  o.draws = 4000;
  const auto r = expect_fit_covers_true_a(o);
  // A PAVI fit also reports its final guide's ELBO over the whole population.
  ASSERT_TRUE(r.trace.final_guide.has_value());
  EXPECT_TRUE(std::isfinite(r.trace.final_guide->elbo));
}

TEST(GammaLaplace, MeanFieldFitCoversTheTrueGlobalValue) {
  // The baseline on the non-conjugate model, on the same plate subsampling: AutoNormal works in
  // log a; its constrained summary must cover the truth like PAVI's.
  GreFitOptions o;
  o.method = GreMethod::MeanField;
  o.batch = 50;
  o.steps = 1500;
  o.particles = 1;
  o.learning_rate = 0.05;
  const auto r = expect_fit_covers_true_a(o);
  EXPECT_EQ(r.n_parameters, 2 * (2 + 200 * 2));
  // Its final guide's ELBO over the whole population too, as PAVI's.
  ASSERT_TRUE(r.trace.final_guide.has_value());
  EXPECT_TRUE(std::isfinite(r.trace.final_guide->elbo));
}

TEST(Training, AveragingCoversWholeEpochsWhenOneFits) {
  EXPECT_EQ(averaging_start(3000, 0.5, 1000), 2000);  // 1.5 epochs -> the last one
  EXPECT_EQ(averaging_start(3000, 0.5, 100), 1500);   // 15 whole epochs already
  EXPECT_EQ(averaging_start(3000, 0.5, 700), 1600);   // 2 epochs of 700
  EXPECT_EQ(averaging_start(3000, 0.5, 5000), 1500);  // not one epoch: unchanged
  EXPECT_EQ(averaging_start(3000, 0.5, 1), 1500);
  EXPECT_EQ(averaging_start(10, 1.0, 3), 10);  // off stays off
}
