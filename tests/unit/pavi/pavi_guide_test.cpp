// The plate-amortized guide on GRE: its template, parameter counts, sparse updates of the free
// encodings, unbiasedness of the subsampled ELBO, the population ELBO of a trained guide, and
// accuracy against the exact posterior (with mean-field AutoNormal as the baseline, checked
// against the mean-field optimum).
#include "amortize/pavi/pavi_guide.hpp"
#include "amortize/infer/elbo.hpp"
#include "amortize/infer/guides/auto_normal.hpp"
#include "amortize/infer/svi.hpp"
#include "amortize/infer/trainer.hpp"
#include "amortize/model/handlers.hpp"
#include "amortize/model/param_store.hpp"
#include "amortize/pavi/gre.hpp"
#include "amortize/pavi/population_elbo.hpp"
#include "elbo_estimate.hpp"

#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <unistd.h>
#include <cmath>
#include <filesystem>

using namespace amortize;
using namespace amortize::pavi;

namespace {
at::TensorOptions f64() { return at::TensorOptions().dtype(at::kDouble); }

GreData small_data(int64_t groups, int64_t obs, uint64_t seed) {
  return generate_gre({groups, obs, 2, seed, {}, f64()});
}

PaviOptions options_for(Encoding encoding, const GreData& data, int64_t batch) {
  PaviOptions o;
  o.encoding = encoding;
  o.encoding_dim = 4;
  o.flow.hidden = 16;
  o.batch_size["groups"] = batch;
  if (encoding == Encoding::Set) o.element_data["groups"] = data.x;
  o.seed = 1;
  return o;
}
}  // namespace

TEST(PaviGuide, TemplateFindsSitesPlatesAndParents) {
  auto data = small_data(7, 3, 1);
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  PaviGuide guide([&] { GreModel{data.x, 3}(); }, options_for(Encoding::Free, data, 3));
  const auto& sites = guide.sites();
  ASSERT_EQ(sites.size(), 2u);
  EXPECT_EQ(sites[0].name, "mu");
  EXPECT_FALSE(sites[0].plate.has_value());
  EXPECT_TRUE(sites[0].parents.empty());
  EXPECT_EQ(sites[1].name, "mu_g");
  EXPECT_EQ(sites[1].plate.value_or(""), "groups");
  EXPECT_EQ(sites[1].parents, (std::vector<std::string>{"mu"}));
  EXPECT_EQ(sites[1].dim, 2);
  EXPECT_EQ(sites[1].context_dim, 4 + 2);
  ASSERT_EQ(guide.plates().size(), 1u);
  EXPECT_EQ(guide.plates()[0].size, 7);
  EXPECT_EQ(guide.plates()[0].batch, 3);
  EXPECT_EQ(guide.latent_dim(), 2 + 7 * 2);
  // One run samples both sites at the batch's size, in the data's dtype.
  model::TraceHandler tracer;
  {
    model::SeedHandler seed(2);
    guide();
  }
  EXPECT_EQ(tracer.trace().at("mu_g").value.sizes(), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(tracer.trace().at("mu_g").value.scalar_type(), at::kDouble);
  EXPECT_DOUBLE_EQ(tracer.trace().at("mu_g").scale, 7.0 / 3.0);
}

TEST(PaviGuide, ParameterCountIsFlatForSetEncodingAndLinearForFreeEncoding) {
  auto count = [](Encoding e, int64_t groups) {
    auto data = small_data(groups, 3, 1);
    model::ParamStore store;
    model::ParamStoreScope scope(store);
    PaviGuide guide([&] { GreModel{data.x, 2}(); }, options_for(e, data, 2));
    model::SeedHandler seed(1);
    guide();
    return guide.n_parameters();
  };
  EXPECT_EQ(count(Encoding::Set, 10), count(Encoding::Set, 1000));
  EXPECT_EQ(count(Encoding::Free, 1000) - count(Encoding::Free, 10), (1000 - 10) * 4);
}

TEST(PaviGuide, FreeEncodingsOutsideTheBatchStayBitIdentical) {
  auto data = small_data(50, 3, 2);
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  infer::Program model = [&] { GreModel{data.x, 5}(); };
  PaviGuide guide(model, options_for(Encoding::Free, data, 5));
  infer::Svi svi(model, guide.program(), std::make_shared<infer::TraceElbo>(), {0.05, 3});
  svi.step();  // creates the parameters and moves them once
  Tensor table = store.entry("pavi.encoding.groups").unconstrained;
  // The gradient of a step is sparse and touches only the batch's rows.
  {
    model::SeedHandler seed(4);
    infer::TraceElbo elbo;
    Tensor loss = elbo.loss(model, guide.program());
    auto grad = torch::autograd::grad({loss}, {table});
    ASSERT_TRUE(grad[0].is_sparse());
    EXPECT_LE(grad[0].coalesce()._nnz(), 5);
  }
  // Steps on known batches: exactly the batch's rows move, every other row stays bit-identical
  // (dense Adam would move them all through its momentum from the first step).
  auto long_opts = at::TensorOptions().dtype(at::kLong);
  // Fixed indices must be distinct elements of the plate (50 groups), as a long tensor.
  EXPECT_THROW(guide.fix_indices("groups", at::tensor(std::vector<int64_t>{3, 50})), model::ModelError);
  EXPECT_THROW(guide.fix_indices("groups", at::tensor(std::vector<int64_t>{-1, 3})), model::ModelError);
  EXPECT_THROW(guide.fix_indices("groups", at::tensor(std::vector<int64_t>{4, 9, 4})), model::ModelError);
  EXPECT_THROW(guide.fix_indices("groups", at::arange(3, at::TensorOptions().dtype(at::kFloat))), model::ModelError);
  for (int64_t step = 0; step < 5; ++step) {
    Tensor batch = at::arange(5, long_opts) * 7 + step;  // 5 rows spread over the table
    guide.fix_indices("groups", batch);
    Tensor prev = table.detach().clone();
    svi.step();
    Tensor changed = (table.detach() != prev).any(1);
    Tensor in_batch = at::zeros({50}, at::TensorOptions().dtype(at::kBool)).index_fill(0, batch, true);
    EXPECT_TRUE(at::equal(changed, in_batch)) << "step " << step;
    EXPECT_TRUE(at::equal(table.detach().index_select(0, at::nonzero(~in_batch).squeeze(1)),
                          prev.index_select(0, at::nonzero(~in_batch).squeeze(1))));
  }
  guide.clear_fixed_indices();
}

// The batched estimator and the population ELBO (every group once, in chunks of 5, 5 and 2, each
// weighted by its share of the plate) both match the full-batch estimator's mean.
TEST(PaviGuide, SubsampledAndPopulationElbosMatchTheFullBatchElbo) {
  for (Encoding e : {Encoding::Free, Encoding::Set}) {
    auto data = small_data(12, 4, 3);
    model::ParamStore store;
    model::ParamStoreScope scope(store);
    int64_t model_batch = 3;
    infer::Program model = [&] { GreModel{data.x, model_batch}(); };
    PaviGuide guide(model, options_for(e, data, 3));
    // A few steps away from the initialisation, so that groups differ.
    infer::Svi svi(model, guide.program(), std::make_shared<infer::TraceElbo>(), {0.02, 5});
    for (int i = 0; i < 30; ++i) svi.step();
    const auto state = guide.batch_state();
    const PopulationElbo pop = population_elbo(model, guide, 400, 5, 21);
    EXPECT_EQ(pop.chunks, 3);
    // The evaluation leaves the training's batch sequence where it was.
    for (const auto& [key, value] : guide.batch_state()) EXPECT_TRUE(at::equal(value, state.at(key))) << key;
    EXPECT_THROW(population_elbo(model, guide, 1, 5, 21), std::invalid_argument);
    auto [batched, se_b] = pavi_tests::elbo_mean_and_se(model, guide.program(), 1500, 11);
    guide.set_batch_size("groups", 12);
    model_batch = 12;
    auto [full, se_f] = pavi_tests::elbo_mean_and_se(model, guide.program(), 1500, 12);
    const double se = std::sqrt(se_b * se_b + se_f * se_f);
    EXPECT_LT(std::abs(batched - full), 4 * se) << "batched " << batched << " full " << full << " se " << se;
    // The test has power: the batch estimate's noise is far below the size of the ELBO.
    EXPECT_LT(se, 0.05 * std::abs(full));
    EXPECT_TRUE(pavi_tests::population_matches_full(pop, full, se_f));
  }
}

// The mean-field baseline's population ELBO (the groups plate in chunks of 5, 5 and 2) matches
// the full-batch estimator's mean, and the guide draws random batches of its size again after.
TEST(PopulationElbo, OfAnAutoNormalGuideMatchesTheFullBatchElbo) {
  auto data = small_data(12, 4, 3);
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  int64_t model_batch = 3;
  infer::Program model = [&] { GreModel{data.x, model_batch}(); };
  model::SeedHandler seed(4);  // the guide's random batches and draws
  infer::AutoNormal guide(model);
  guide.set_subsample_size("groups", 3);
  infer::Svi svi(model, guide.program(), std::make_shared<infer::TraceElbo>(), {0.02, 5});
  for (int i = 0; i < 30; ++i) svi.step();
  const PopulationElbo pop = population_elbo(model, guide, 400, 5, 21);
  EXPECT_EQ(pop.chunks, 3);
  EXPECT_THROW(population_elbo(model, guide, 1, 5, 21), std::invalid_argument);
  // Asked for 2 draws of 12 groups in runs of 5, it takes 10 (no run holds more draws than 5
  // groups x 2), one group per run.
  const PopulationElbo small = population_elbo(model, guide, 2, 5, 21);
  EXPECT_EQ(small.particles, 10);
  EXPECT_EQ(small.chunks, 12);
  {
    model::TraceHandler tracer;
    guide();
    EXPECT_EQ(tracer.trace().at("groups").value.numel(), 3);
  }
  guide.set_subsample_size("groups", 12);
  model_batch = 12;
  auto [full, se_f] = pavi_tests::elbo_mean_and_se(model, guide.program(), 1500, 12);
  EXPECT_TRUE(pavi_tests::population_matches_full(pop, full, se_f));
}

TEST(AutoGuide, FixedIndicesAreCheckedAndTaken) {
  auto data = small_data(12, 4, 3);
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  infer::Program model = [&] { GreModel{data.x, 3}(); };
  model::SeedHandler seed(4);
  infer::AutoNormal guide(model);
  guide.set_subsample_size("groups", 3);
  const auto long_options = at::TensorOptions().dtype(at::kLong);
  EXPECT_THROW(guide.fix_indices("nope", at::arange(2, long_options)), model::ModelError);
  EXPECT_THROW(guide.fix_indices("groups", at::arange(13, long_options)), model::ModelError);
  EXPECT_THROW(guide.fix_indices("groups", at::arange(2, at::TensorOptions().dtype(at::kFloat))), model::ModelError);
  EXPECT_THROW(guide.fix_indices("groups", at::empty({0}, long_options)), model::ModelError);
  EXPECT_THROW(guide.fix_indices("groups", at::tensor(std::vector<int64_t>{5, 1, 5})), model::ModelError);
  // Each group's loc is its own row number times 10, with a negligible scale.
  auto [loc, scale] = guide.loc_scale("mu_g");
  const Tensor marked = (at::arange(loc.size(0), loc.options()) * 10).unsqueeze(1).expand(loc.sizes()).contiguous();
  guide.set_loc_scale("mu_g", marked, at::full_like(scale, 1e-6));
  const Tensor chosen = at::tensor(std::vector<int64_t>{7, 2, 11, 0, 5});
  guide.fix_indices("groups", chosen);
  {
    model::TraceHandler tracer;
    guide();
    EXPECT_TRUE(at::equal(tracer.trace().at("groups").value, chosen));
    EXPECT_TRUE(at::allclose(tracer.trace().at("mu_g").value, marked.index_select(0, chosen), 0, 1e-3));
  }
  guide.clear_fixed_indices();
  model::TraceHandler again;
  guide();
  EXPECT_EQ(again.trace().at("groups").value.numel(), 3);
}

namespace {
// Trains PAVI-F on GRE through the shared trainer up to `total` steps, stopping at `stop_at`
// (checkpoint), then resuming in fresh objects; `restore_batches` says whether the checkpoint
// carries the guide's batch state. Returns the final parameters.
std::map<std::string, Tensor> train_with_resume(int64_t stop_at, int64_t total, bool restore_batches,
                                                const std::filesystem::path& checkpoint) {
  auto data = small_data(40, 3, 6);
  auto run = [&](int64_t max_steps, bool resume) {
    model::ParamStore store;
    model::ParamStoreScope scope(store);
    infer::Program model = [&] { GreModel{data.x, 5}(); };
    PaviGuide guide(model, options_for(Encoding::Free, data, 5));
    infer::Svi svi(model, guide.program(), std::make_shared<infer::TraceElbo>(infer::ElboOptions{2}), {0.02, 3, 0.999});
    infer::TrainerOptions to;
    to.max_steps = max_steps;
    to.progress = infer::ProgressMode::kSilent;
    to.checkpoint_path = checkpoint.string();
    to.save_extra_state = [&] { return guide.batch_state(); };
    to.load_extra_state = [&](const std::map<std::string, Tensor>& s) {
      if (restore_batches) guide.load_batch_state(s);
    };
    auto trainer = svi.trainer(to);
    if (resume) trainer->resume(checkpoint.string());
    trainer->run();
    std::map<std::string, Tensor> out;
    for (const auto& name : store.names()) out[name] = store.entry(name).unconstrained.detach().clone();
    return out;
  };
  if (stop_at >= total) return run(total, false);
  run(stop_at, false);
  return run(total, true);
}

::testing::AssertionResult identical(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  if (a.size() != b.size()) return ::testing::AssertionFailure() << a.size() << " vs " << b.size() << " parameters";
  for (const auto& [name, value] : a) {
    auto it = b.find(name);
    if (it == b.end()) return ::testing::AssertionFailure() << "no parameter " << name;
    if (!at::equal(value, it->second)) return ::testing::AssertionFailure() << "parameter " << name << " differs";
  }
  return ::testing::AssertionSuccess();
}
}  // namespace

TEST(PaviGuide, ResumedRunIsBitIdenticalBecauseTheBatchStateIsCheckpointed) {
  const auto dir = std::filesystem::temp_directory_path() / ("amortize_pavi_resume_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  // 40 groups in batches of 5: the stop at step 11 falls inside the second epoch.
  const auto straight = train_with_resume(30, 30, true, dir / "a.pt");
  EXPECT_TRUE(identical(straight, train_with_resume(11, 30, true, dir / "b.pt")));
  // Without the batch state the resumed run draws other batches: the check has power.
  EXPECT_FALSE(identical(straight, train_with_resume(11, 30, false, dir / "c.pt")));
  std::filesystem::remove_all(dir);
}

TEST(PaviGuide, GlobalBaseDrawsComeInAntitheticPairsAndLocalOnesInCommonPairs) {
  auto data = small_data(6, 3, 7);
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  infer::Program model = [&] { GreModel{data.x, 3}(); };
  PaviGuide guide(model, options_for(Encoding::Free, data, 3));
  infer::TraceElbo elbo(infer::ElboOptions{4});
  model::SeedHandler seed(8);
  auto traces = elbo.run(model, guide.program());
  // Particles k and k + 2 form a pair. mu = loc + scale * u: each pair's mean is loc, the same
  // for both pairs. The groups' draws of a pair are equal: common base draws, and their flows'
  // weights on the parent start at zero (independent pairs would differ by ~0.1).
  Tensor mu = traces.guide.at("mu").value.reshape({4, 2});
  Tensor mu_g = traces.guide.at("mu_g").value.reshape({4, 3, 2});
  Tensor centre = (mu.narrow(0, 0, 2) + mu.narrow(0, 2, 2)) / 2;
  EXPECT_TRUE(at::allclose(centre[0], centre[1], 1e-12, 1e-12)) << mu;
  EXPECT_FALSE(at::allclose(mu[0], mu[1]));
  EXPECT_TRUE(at::allclose(mu_g.narrow(0, 0, 2), mu_g.narrow(0, 2, 2), 1e-12, 1e-12)) << mu_g;
  EXPECT_FALSE(at::allclose(mu_g[0], mu_g[1]));
}

TEST(PaviGuide, RaoBlackwellisedMomentsMatchSampledDraws) {
  // moments() of a real local site with an affine flow average its exact conditional Gaussian
  // over parent draws; it must agree with plain draws of the guide. With 4000 draws on each
  // side, each mean's error is at most sd / 63 and each sd's relative error at most 1.1 % (the
  // parent's share of the variance is estimated from the parent draws alone); tolerances are
  // 4 standard errors of the difference.
  auto data = small_data(8, 3, 4);
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  infer::Program model = [&] { GreModel{data.x, 8}(); };
  auto o = options_for(Encoding::Set, data, 8);
  o.antithetic = false;
  o.flow.lower_triangular = true;
  PaviGuide guide(model, o);
  infer::Svi svi(model, guide.program(), std::make_shared<infer::TraceElbo>(), {0.02, 5});
  for (int i = 0; i < 30; ++i) svi.step();
  const auto m = guide.moments("mu_g", 4000, 3, 7);
  ASSERT_EQ(m.mean.sizes(), (std::vector<int64_t>{8, 2}));
  Tensor v;
  {
    at::NoGradGuard no_grad;
    model::TraceHandler tracer;
    model::SeedHandler seed(9);
    model::Plate draws("_draws", 4000, model::Plate::Options{std::nullopt, {}, -2, true});
    guide();
    v = tracer.trace().at("mu_g").value;  // [4000, 8, 2]
  }
  Tensor sd = v.std(0);
  EXPECT_LT(((m.mean - v.mean(0)) / sd).abs().max().item<double>(), 4.0 / std::sqrt(4000.0) * std::sqrt(2.0));
  EXPECT_LT((m.sd / sd - 1).abs().max().item<double>(), 4 * 0.011 * std::sqrt(2.0));
}
