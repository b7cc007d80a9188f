// Accuracy on GRE (G = 10 groups, N = 5 observations, D = 2, groups subsampled 5 at a time)
// against the closed-form posterior, through fit_gre (the driver of `amortize pavi fit`, with
// its antithetic particles, epoch batches and iterate averaging): PAVI-F and PAVI-E against the
// exact marginals of mu and every mu_g; mean-field AutoNormal against the mean-field family's
// optimum. Tolerances: 0.1 exact sd for means and 10 % for sds (the optimisation error allowed
// after a few thousand Adam steps, the same for every guide), plus four Monte-Carlo standard
// errors of the moment estimates (S draws: sd / sqrt(S) for a mean, sd / sqrt(2 S) for an sd).
#include "amortize/pavi/gre_fit.hpp"
#include "numeric_checks.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

using namespace amortize;
using namespace amortize::pavi;

namespace {
constexpr int64_t kGroups = 10, kObs = 5, kDraws = 4000;

// Every mean within mean_tolerance exact sds and every sd within 10 % (plus Monte-Carlo error
// for `mc_draws` draws per moment), for mu and for every mu_g.
::testing::AssertionResult close_to(const GrePosterior& fit, const GrePosterior& target, double mc_draws) {
  const double z = amortize::testing::kMonteCarloZ;
  const double mean_tolerance = 0.1 + z / std::sqrt(mc_draws), sd_tolerance = 0.1 + z / std::sqrt(2.0 * mc_draws);
  std::ostringstream failures;
  auto check = [&](const Tensor& mean, const Tensor& sd, const Tensor& t_mean, const Tensor& t_sd, const char* site) {
    const double mean_err = ((mean - t_mean) / t_sd).abs().max().item<double>();
    const double sd_err = (sd / t_sd - 1).abs().max().item<double>();
    if (!(mean_err < mean_tolerance))
      failures << site << " mean error " << mean_err << " sds > " << mean_tolerance << "; ";
    if (!(sd_err < sd_tolerance)) failures << site << " relative sd error " << sd_err << " > " << sd_tolerance << "; ";
  };
  check(fit.mu_mean, fit.mu_sd, target.mu_mean, target.mu_sd, "mu");
  check(fit.mu_g_mean, fit.mu_g_sd, target.mu_g_mean, target.mu_g_sd, "mu_g");
  if (failures.str().empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << failures.str();
}

GreData data_for(uint64_t seed) {
  return generate_gre({kGroups, kObs, 2, seed, {}, at::TensorOptions().dtype(at::kDouble)});
}

GreFitOptions options_for(GreMethod method, Encoding encoding) {
  GreFitOptions o;
  o.method = method;
  o.encoding = encoding;
  o.batch = 5;
  o.steps = 3000;
  o.particles = 16;
  o.learning_rate = 0.02;
  o.final_learning_rate = 0.0002;
  o.encoding_dim = 4;
  o.hidden = 16;
  o.draws = kDraws;
  o.seed = 2;
  return o;
}
}  // namespace

TEST(GreAccuracy, PaviFreeEncodingMatchesTheExactPosterior) {
  const auto data = data_for(21);
  const auto fit = fit_gre(data, options_for(GreMethod::Pavi, Encoding::Free));
  EXPECT_TRUE(close_to(fit.fitted, gre_exact_posterior(data.x), kDraws));
}

TEST(GreAccuracy, PaviSetEncodingMatchesTheExactPosterior) {
  // Phase 1 measured an amortization gap of 0.2-0.3 sd in the group means here and held them to
  // 0.5 sd. The gap came from the guide, not the set encoder: the groups' flows read their
  // parent's raw value (~0.5, with a sd of ~0.15), so its coefficient was confounded with their
  // bias, and training stopped at the last noisy iterate. With the parent standardised, antithetic
  // pairs and iterate averaging, PAVI-E meets PAVI-F's bound: measured largest group-mean error
  // 0.12 sd (PAVI-F 0.08; Monte-Carlo error alone gives ~0.035 for the largest of 20), against
  // 0.1 + 4 x 0.016.
  const auto data = data_for(22);
  const auto fit = fit_gre(data, options_for(GreMethod::Pavi, Encoding::Set));
  EXPECT_TRUE(close_to(fit.fitted, gre_exact_posterior(data.x), kDraws));
}

TEST(GreAccuracy, MeanFieldAutoNormalReachesTheMeanFieldOptimum) {
  const auto data = data_for(23);
  const auto fit = fit_gre(data, options_for(GreMethod::MeanField, Encoding::Free));
  // Exact moments of the guide (its loc and scale): no Monte-Carlo term.
  EXPECT_TRUE(close_to(fit.fitted, gre_mean_field_optimum(data.x), 1e30));
}
