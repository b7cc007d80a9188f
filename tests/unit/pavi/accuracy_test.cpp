// Accuracy on GRE (G = 10 groups, N = 5 observations, D = 2, groups subsampled 5 at a time)
// against the closed-form posterior: PAVI-F and PAVI-E against the exact marginals of mu and
// every mu_g; mean-field AutoNormal against the mean-field family's optimum. Tolerances: 0.1
// exact sd for means and 10 % for sds (optimisation error of a few thousand Adam steps), plus
// four Monte-Carlo standard errors of the moment estimates (S draws: sd / sqrt(S) for a mean,
// sd / sqrt(2 S) for an sd).
#include "amortize/infer/elbo.hpp"
#include "amortize/infer/guides/auto_normal.hpp"
#include "amortize/infer/svi.hpp"
#include "amortize/model/param_store.hpp"
#include "amortize/pavi/gre.hpp"
#include "amortize/pavi/pavi_guide.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace amortize;
using namespace amortize::pavi;

namespace {
constexpr int64_t kGroups = 10, kObs = 5, kDraws = 4000, kBatch = 5, kParticles = 16, kSteps = 3000;

struct Fit {
  Tensor mu_mean, mu_sd, mu_g_mean, mu_g_sd;
};

void expect_close(const Fit& fit, const GrePosterior& target, double mc_draws, const std::string& what,
                  double group_mean_tolerance = 0.1) {
  const double mc_mean = 4.0 / std::sqrt(mc_draws), mc_sd = 4.0 / std::sqrt(2.0 * mc_draws);
  auto check = [&](const Tensor& mean, const Tensor& sd, const Tensor& t_mean, const Tensor& t_sd, const char* site,
                   double local_mean_tolerance) {
    Tensor mean_err = ((mean - t_mean) / t_sd).abs().max();
    Tensor sd_err = (sd / t_sd - 1).abs().max();
    EXPECT_LT(mean_err.item<double>(), local_mean_tolerance + mc_mean) << what << ": " << site << " mean error in sds";
    EXPECT_LT(sd_err.item<double>(), 0.1 + mc_sd) << what << ": " << site << " relative sd error";
  };
  check(fit.mu_mean, fit.mu_sd, target.mu_mean, target.mu_sd, "mu", 0.1);
  check(fit.mu_g_mean, fit.mu_g_sd, target.mu_g_mean, target.mu_g_sd, "mu_g", group_mean_tolerance);
}

infer::SviOptions svi_options() { return {0.02, 7, std::pow(0.01, 1.0 / kSteps)}; }

Fit fit_pavi(Encoding encoding, const GreData& data) {
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  infer::Program model = [&] { GreModel(data.x, kBatch)(); };
  PaviOptions o;
  o.encoding = encoding;
  o.encoding_dim = 4;
  o.flow.hidden = 16;
  o.batch_size["groups"] = kBatch;
  if (encoding == Encoding::Set) o.element_data["groups"] = data.x;
  o.seed = 2;
  PaviGuide guide(model, o);
  infer::Svi svi(model, guide.program(), std::make_shared<infer::TraceElbo>(infer::ElboOptions{kParticles}), svi_options());
  for (int64_t i = 0; i < kSteps; ++i) svi.step();
  auto mu = guide.moments("mu", kDraws, kGroups, 3);
  auto mu_g = guide.moments("mu_g", kDraws, kGroups, 4);
  return {mu.mean, mu.sd, mu_g.mean, mu_g.sd};
}
}  // namespace

TEST(GreAccuracy, PaviFreeEncodingMatchesTheExactPosterior) {
  auto data = generate_gre({kGroups, kObs, 2, 21, {}, at::TensorOptions().dtype(at::kDouble)});
  expect_close(fit_pavi(Encoding::Free, data), gre_exact_posterior(data.x), kDraws, "PAVI-F");
}

TEST(GreAccuracy, PaviSetEncodingMatchesTheGlobalPosteriorWithABoundedAmortizationGap) {
  auto data = generate_gre({kGroups, kObs, 2, 22, {}, at::TensorOptions().dtype(at::kDouble)});
  // PAVI-E's group means carry an amortization gap: the shared encoder has to map every group's
  // data to its posterior mean to 1 % (0.1 sd = 0.0045 here) and, measured over 3000 to 8000 steps,
  // batch sizes 5 and 10, 4 to 16 particles and learning rates 0.005 to 0.05, it stalls at 0.2 to
  // 0.3 sd (PAVI-F: 0.07 to 0.15). The group means are held to 0.5 sd (the prior sd is 11 posterior
  // sds: the encoder has still taken in 95 % of each group's information); the rest as PAVI-F.
  expect_close(fit_pavi(Encoding::Set, data), gre_exact_posterior(data.x), kDraws, "PAVI-E", 0.5);
}

TEST(GreAccuracy, MeanFieldAutoNormalReachesTheMeanFieldOptimum) {
  auto data = generate_gre({kGroups, kObs, 2, 23, {}, at::TensorOptions().dtype(at::kDouble)});
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  infer::Program model = [&] { GreModel(data.x, kBatch)(); };
  auto guide = std::make_shared<infer::AutoNormal>(model);
  guide->set_subsample_size("groups", kBatch);
  infer::Svi svi(model, guide->program(), std::make_shared<infer::TraceElbo>(infer::ElboOptions{kParticles}), svi_options());
  for (int64_t i = 0; i < kSteps; ++i) svi.step();
  auto [mu_loc, mu_scale] = guide->loc_scale("mu");
  auto [g_loc, g_scale] = guide->loc_scale("mu_g");
  Fit fit{mu_loc.detach(), mu_scale.detach(), g_loc.detach(), g_scale.detach()};
  // Exact moments of the guide: no Monte-Carlo term (an infinite number of draws).
  expect_close(fit, gre_mean_field_optimum(data.x), 1e30, "AutoNormal");
}
