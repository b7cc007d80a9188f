// The mixture with random effects and the three-level hierarchy: their log joints against hand
// computations (with the plates' size / batch scales), the guide's template for nested plates,
// unbiased subsampled ELBOs (the three-level model with both plates subsampled) and the
// shapes of the summaries. The registry builds every model by name.
#include "amortize/infer/svi.hpp"
#include "amortize/model/handlers.hpp"
#include "amortize/model/param_store.hpp"
#include "amortize/pavi/hierarchy.hpp"
#include "amortize/pavi/pavi_guide.hpp"
#include "amortize/pavi/population_elbo.hpp"
#include "elbo_estimate.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace amortize;
using namespace amortize::pavi;

namespace {
at::TensorOptions f64() { return at::TensorOptions().dtype(at::kDouble); }

double normal_lp(const Tensor& x, const Tensor& mean, double sd) {
  return (-0.5 * ((x - mean) / sd).square() - std::log(sd) - 0.5 * std::log(2 * M_PI)).sum().item<double>();
}

ThreeLevelData small_three_level() {
  ThreeLevelDataOptions o;
  o.subjects = 6;
  o.sessions = 4;
  o.locations = 3;
  o.seed = 2;
  o.options = f64();
  return generate_three_level(o);
}

MixtureData small_mixture() {
  MixtureDataOptions o;
  o.groups = 10;
  o.obs_per_group = 6;
  o.seed = 3;
  o.options = f64();
  return generate_mixture(o);
}

PaviOptions guide_options(Encoding e, const Hierarchy& h) {
  PaviOptions o;
  o.encoding = e;
  o.encoding_dim = 4;
  o.flow.hidden = 8;
  o.batch_size = h.batches;
  if (e == Encoding::Set) o.element_data = h.element_data;
  o.seed = 1;
  return o;
}
}  // namespace

TEST(ThreeLevel, LogJointMatchesAHandComputationWithBothPlatesScaled) {
  const auto data = small_three_level();
  model::TraceHandler tracer;
  {
    model::SeedHandler seed(3);
    ThreeLevelModel(data.x, 2, 3)();
  }
  const auto& tr = tracer.trace();
  Tensor mu = tr.at("mu").value, ms = tr.at("mu_subject").value, mst = tr.at("mu_session").value;
  Tensor subj = tr.at("subjects").value, sess = tr.at("sessions").value;
  ASSERT_EQ(ms.sizes(), (std::vector<int64_t>{2, 2}));
  ASSERT_EQ(mst.sizes(), (std::vector<int64_t>{3, 2, 2}));
  Tensor xb = data.x.index_select(0, subj).index_select(1, sess).transpose(0, 1);  // [3, 2, L, D]
  const double expected = normal_lp(mu, at::zeros_like(mu), 0.5) + 3.0 * normal_lp(ms, mu, 0.3) +
                          3.0 * (4.0 / 3.0) * (normal_lp(mst, ms, 0.2) + normal_lp(xb, mst.unsqueeze(-2), 0.1));
  EXPECT_NEAR(tr.log_prob_sum().item<double>(), expected, 1e-9);
}

TEST(MixtureModel, LogJointMarginalisesTheLabels) {
  const auto data = small_mixture();
  model::TraceHandler tracer;
  {
    model::SeedHandler seed(4);
    MixtureModel(data.x, 3, 4)();
  }
  const auto& tr = tracer.trace();
  Tensor means = tr.at("means").value, w = tr.at("weights").value, gm = tr.at("group_means").value;
  Tensor xb = data.x.index_select(0, tr.at("groups").value);  // [4, N, D]
  double lp_x = 0;
  for (int64_t g = 0; g < 4; ++g) {
    for (int64_t n = 0; n < xb.size(1); ++n) {
      Tensor per_k = at::zeros({3}, f64());
      for (int64_t k = 0; k < 3; ++k) per_k[k] = std::log(w[g][k].item<double>()) + normal_lp(xb[g][n], gm[g][k], 0.1);
      lp_x += at::logsumexp(per_k, 0).item<double>();
    }
  }
  // Dirichlet(1, 1, 1) has density 2 on the simplex.
  const double expected =
      normal_lp(means, at::zeros_like(means), 1.0) + 2.5 * (4 * std::log(2.0) + normal_lp(gm, means, 0.2) + lp_x);
  EXPECT_NEAR(tr.log_prob_sum().item<double>(), expected, 1e-8);
}

TEST(ThreeLevel, GuideTemplateHasNestedPlatesAndSummariesInTheDrawsLayout) {
  const auto data = small_three_level();
  const auto h = three_level_hierarchy(data, 2, 3);
  for (Encoding e : {Encoding::Free, Encoding::Set, Encoding::Unshared}) {
    model::ParamStore store;
    model::ParamStoreScope scope(store);
    PaviGuide guide(h.model, guide_options(e, h));
    const auto& sites = guide.sites();
    ASSERT_EQ(sites.size(), 3u);
    EXPECT_EQ(sites[2].name, "mu_session");
    EXPECT_EQ(sites[2].plates, (std::vector<std::string>{"subjects", "sessions"}));
    EXPECT_EQ(sites[2].plate.value_or(""), "sessions");
    EXPECT_EQ(sites[2].parents, (std::vector<std::string>{"mu_subject"}));
    EXPECT_EQ(guide.latent_dim(), 2 + 6 * 2 + 6 * 4 * 2);
    model::TraceHandler tracer;
    {
      model::SeedHandler seed(5);
      guide();
    }
    EXPECT_EQ(tracer.trace().at("mu_session").value.sizes(), (std::vector<int64_t>{3, 2, 2}));
    EXPECT_DOUBLE_EQ(tracer.trace().at("mu_session").scale, 3.0 * 4.0 / 3.0);
    auto m = guide.moments("mu_session", 20, 4, 7);
    EXPECT_EQ(m.mean.sizes(), (std::vector<int64_t>{4, 6, 2}));
    EXPECT_TRUE(at::isfinite(m.sd).all().item<bool>());
    EXPECT_GT(m.sd.min().item<double>(), 0.0);
  }
  // Free encodings: one row per (subject, session) pair.
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  PaviGuide guide(h.model, guide_options(Encoding::Free, h));
  model::SeedHandler seed(5);
  guide();
  EXPECT_EQ(store.entry("pavi.encoding.sessions").unconstrained.size(0), 24);
  EXPECT_EQ(store.entry("pavi.encoding.subjects").unconstrained.size(0), 6);
}

TEST(ThreeLevel, SessionSummariesFollowTheSubjectsTheyBelongTo) {
  // The encoding table row of element (s, t) is s * T + t: a guide whose session encodings are
  // set to identify the subject must shift the summaries of exactly that subject's sessions.
  const auto data = small_three_level();
  const auto h = three_level_hierarchy(data, 6, 4);
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  PaviGuide guide(h.model, guide_options(Encoding::Unshared, h));
  {
    model::SeedHandler seed(5);
    guide();
  }
  Tensor rows = store.entry("pavi.element.mu_session").unconstrained;
  {
    at::NoGradGuard no_grad;
    rows.narrow(0, 4 * 4 + 1, 1).narrow(1, 0, 1).fill_(100.0);  // subject 4, session 1, loc[0]
  }
  auto m = guide.moments("mu_session", 10, 2, 3);  // chunks of 2 subjects
  EXPECT_GT(m.mean[1][4][0].item<double>(), 50.0);
  EXPECT_LT(m.mean.select(2, 0).abs().sum().item<double>() - m.mean[1][4][0].item<double>(), 50.0);
}

TEST(Hierarchies, SubsampledElbosAreUnbiased) {
  // Mixture (one plate) and three-level (subjects and sessions both subsampled): the batched
  // estimator's mean matches the full-batch one within 4 standard errors.
  const auto tl = small_three_level();
  const auto mix = small_mixture();
  struct Case {
    Hierarchy batched, full;
    Encoding encoding;
  };
  std::vector<Case> cases{{three_level_hierarchy(tl, 3, 2), three_level_hierarchy(tl, 6, 4), Encoding::Set},
                          {mixture_hierarchy(mix, 4), mixture_hierarchy(mix, 10), Encoding::Free}};
  for (auto& c : cases) {
    SCOPED_TRACE(c.batched.name);
    model::ParamStore store;
    model::ParamStoreScope scope(store);
    PaviGuide guide(c.batched.model, guide_options(c.encoding, c.batched));
    infer::Svi svi(c.batched.model, guide.program(), std::make_shared<infer::TraceElbo>(), {0.02, 5});
    for (int i = 0; i < 30; ++i) svi.step();  // away from the start, so that elements differ
    auto [batched, se_b] = pavi_tests::elbo_mean_and_se(c.batched.model, guide.program(), 600, 11);
    for (const auto& [plate, size] : c.full.batches) guide.set_batch_size(plate, size);
    auto [full, se_f] = pavi_tests::elbo_mean_and_se(c.full.model, guide.program(), 600, 12);
    const double se = std::sqrt(se_b * se_b + se_f * se_f);
    EXPECT_LT(std::abs(batched - full), 4 * se) << "batched " << batched << " full " << full << " se " << se;
    EXPECT_LT(se, 0.05 * std::abs(full));
  }
}

TEST(PopulationElbo, NestedPlatesChunkTheOuterOneAndMatchTheFullBatchElbo) {
  // Three-level: chunks of 4 and 2 subjects, every session of each.
  const auto tl = small_three_level();
  const Hierarchy batched = three_level_hierarchy(tl, 3, 2), full = three_level_hierarchy(tl, 6, 4);
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  PaviGuide guide(batched.model, guide_options(Encoding::Set, batched));
  infer::Svi svi(batched.model, guide.program(), std::make_shared<infer::TraceElbo>(), {0.02, 5});
  for (int i = 0; i < 30; ++i) svi.step();
  const PopulationElbo pop = population_elbo(batched.model, guide, 300, 4, 21);
  EXPECT_EQ(pop.chunks, 2);
  for (const auto& [plate, size] : full.batches) guide.set_batch_size(plate, size);
  auto [elbo, se_f] = pavi_tests::elbo_mean_and_se(full.model, guide.program(), 600, 12);
  EXPECT_TRUE(pavi_tests::population_matches_full(pop, elbo, se_f));
}

TEST(Hierarchies, RegistryBuildsEveryModelByName) {
  HierarchySize z;
  z.groups = 5;
  z.obs_per_group = 3;
  z.batch = 2;
  for (const auto& name : hierarchy_names()) {
    const auto h = make_hierarchy(name, z);
    EXPECT_EQ(h.name, name);
    EXPECT_FALSE(h.global_sites.empty());
    for (const auto& s : h.global_sites) EXPECT_TRUE(h.truth.count(s)) << s;
    model::TraceHandler tracer;
    model::SeedHandler seed(1);
    h.model();
    EXPECT_TRUE(tracer.trace().contains(h.global_sites.front()));
  }
  EXPECT_THROW(make_hierarchy("gmm", z), std::invalid_argument);
}
