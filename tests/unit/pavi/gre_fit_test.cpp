// fit_gre, the driver behind `amortize pavi fit` and the benchmarks: its measurements are
// filled and consistent for each method.
#include "amortize/pavi/gre_fit.hpp"

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
  for (auto [method, encoding] : std::vector<std::pair<GreMethod, Encoding>>{
           {GreMethod::Pavi, Encoding::Free}, {GreMethod::Pavi, Encoding::Set}, {GreMethod::MeanField, Encoding::Free}}) {
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
