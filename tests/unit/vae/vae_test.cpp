#include "amortize/vae/vae.hpp"
#include "amortize/dist/discrete/bernoulli.hpp"
#include "amortize/infer/checkpoint.hpp"
#include "amortize/infer/elbo.hpp"
#include "amortize/infer/trainer.hpp"
#include "amortize/model/handlers.hpp"
#include "amortize/model/param_store.hpp"
#include "amortize/vae/binary_image.hpp"
#include "amortize/vae/image_grid.hpp"
#include "amortize/vae/local_bound.hpp"
#include "amortize/vae/trainer.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

using namespace amortize;
using namespace amortize::vae;

namespace {

at::Generator gen(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

// Two prototype images of 16 pixels, each pixel flipped with probability 0.05: the data
// distribution is a two-component mixture whose log-likelihood is known exactly.
struct Prototypes {
  static constexpr int64_t kPixels = 16;
  static constexpr double kFlip = 0.05;
  Tensor protos =
      at::stack({at::cat({at::ones({8}), at::zeros({8})}), at::cat({at::zeros({4}), at::ones({8}), at::zeros({4})})});
  Tensor images(int64_t n, uint64_t seed) const {
    auto g = gen(seed);
    auto which = at::randint(2, {n}, g, at::kLong);
    auto flips = at::bernoulli(at::full({n, kPixels}, kFlip), g);
    return (protos.index_select(0, which) - flips).abs();
  }
  // Mean over images of log p(x) under the generating mixture.
  double mean_log_likelihood(const Tensor& x) const {
    auto diff = (x.unsqueeze(1) - protos.unsqueeze(0)).abs().sum(-1);  // (n, 2) flipped pixels
    auto lp = diff * std::log(kFlip) + (kPixels - diff) * std::log1p(-kFlip) + std::log(0.5);
    return at::logsumexp(lp, 1).mean().item<double>();
  }
};

VaeOptions tiny() { return VaeOptions{Prototypes::kPixels, 16, 2}; }

// Training settings for the prototype data: batches of 32, Adam 0.01.
FitOptions tiny_fit(BoundKind kind, int64_t particles, int64_t workers = 1) {
  FitOptions fit;
  fit.batch_size = 32;
  fit.learning_rate = 0.01;
  fit.objective = kind;
  fit.particles = particles;
  fit.workers = workers;
  return fit;
}

}  // namespace

TEST(BinaryImage, MatchesBernoulliToEventInValueAndGradient) {
  auto g = gen(1);
  auto logits = (3 * at::randn({3, 5, 7}, g, at::kDouble)).requires_grad_(true);
  auto x = at::bernoulli(at::full({5, 7}, 0.4, at::kDouble), g);  // broadcasts over the leading 3
  auto fused = BinaryImage(logits).log_prob(x);
  auto reference = dist::Bernoulli::from_logits(logits).to_event(1)->log_prob(x);
  ASSERT_EQ(fused.sizes(), reference.sizes());
  EXPECT_TRUE(at::allclose(fused, reference, 1e-12, 1e-12));
  auto weights = at::randn({3, 5}, g, at::kDouble);
  auto g_fused = torch::autograd::grad({(fused * weights).sum()}, {logits})[0];
  auto g_ref = torch::autograd::grad({(reference * weights).sum()}, {logits})[0];
  EXPECT_TRUE(at::allclose(g_fused, g_ref, 1e-12, 1e-12));
  EXPECT_EQ(BinaryImage(logits).event_shape(), (Shape{7}));
}

TEST(LocalBound, OneParticleBoundIsTheTraceElboScaledToTheDataSet) {
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  Vae net(tiny(), gen(2), at::kDouble);
  Prototypes data;
  auto x = data.images(8, 3).to(at::kDouble);
  auto idx = at::arange(8, at::kLong);
  auto model_fn = [&] { net.model(x, idx, 100); };
  auto guide_fn = [&] { net.guide(x, idx, 100); };
  LocalBound bound(BoundKind::Elbo, 1);
  infer::TraceElbo elbo({/*num_particles=*/1, /*max_plate_nesting=*/1});
  {
    model::SeedHandler seed(4);
    bound.loss(model_fn, guide_fn);
  }
  {
    model::SeedHandler seed(4);
    elbo.loss(model_fn, guide_fn);
  }
  EXPECT_NEAR(bound.last_bound(), elbo.last_elbo(), 1e-9 * std::abs(elbo.last_elbo()));
  // Scaled by 100 / 8 from the batch's per-datum terms.
  EXPECT_NEAR(bound.last_bound(), bound.last_per_datum().sum().item<double>() * 100.0 / 8.0,
              1e-9 * std::abs(bound.last_bound()));
  EXPECT_EQ(bound.last_per_datum().sizes(), (at::IntArrayRef{8}));
}

TEST(LocalBound, ImportanceWeightedBoundIsAtLeastTheElboAndGrowsWithK) {
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  Vae net(tiny(), gen(5), at::kDouble);
  Prototypes data;
  auto x = data.images(64, 6).to(at::kDouble);
  auto idx = at::arange(64, at::kLong);
  auto model_fn = [&] { net.model(x, idx, 64); };
  auto guide_fn = [&] { net.guide(x, idx, 64); };
  model::SeedHandler seed(7);
  // Per-image means over 64 images and 20 repeats; the spread of the repeats gives the MC error.
  auto per_image = [&](BoundKind kind, int64_t k) {
    LocalBound bound(kind, k);
    std::vector<double> values;
    for (int r = 0; r < 20; ++r) {
      bound.loss(model_fn, guide_fn);
      values.push_back(bound.last_per_datum().mean().item<double>());
    }
    double m = 0, v = 0;
    for (double a : values) m += a / values.size();
    for (double a : values) v += (a - m) * (a - m) / (values.size() - 1);
    return std::make_pair(m, std::sqrt(v / values.size()));
  };
  auto [elbo, elbo_se] = per_image(BoundKind::Elbo, 50);
  auto [iwae5, iwae5_se] = per_image(BoundKind::ImportanceWeighted, 5);
  auto [iwae50, iwae50_se] = per_image(BoundKind::ImportanceWeighted, 50);
  // An untrained encoder is a poor proposal, so the bounds separate by far more than the MC error.
  EXPECT_GT(iwae5, elbo + 4 * std::hypot(elbo_se, iwae5_se));
  EXPECT_GT(iwae50, iwae5 + 4 * std::hypot(iwae5_se, iwae50_se));
  // Every bound stays below the exact log-likelihood, here log of a 2-D integral done on a grid.
  auto grid = at::linspace(-6, 6, 241, at::kDouble);
  auto z = at::stack(at::meshgrid({grid, grid}, "ij"), -1).reshape({-1, 2});
  at::NoGradGuard no_grad;
  auto probs = net.decode_probs(z);                                                       // (G, pixels)
  auto ll_x = at::matmul(x, probs.log().t()) + at::matmul(1 - x, (1 - probs).log().t());  // (n, G)
  auto log_prior = -0.5 * z.square().sum(-1) - std::log(2 * M_PI);
  const double cell = std::pow((grid[1] - grid[0]).item<double>(), 2);
  const double exact = (at::logsumexp(ll_x + log_prior, 1) + std::log(cell)).mean().item<double>();
  EXPECT_LT(iwae50, exact + 4 * iwae50_se);
  EXPECT_GT(iwae50, exact - 2.0);  // and a K = 50 bound is already close on two latent dimensions
}

TEST(VaeTrainer, ElboAndIwaeTrainingReachTheDataLikelihood) {
  Prototypes data;
  auto train = data.images(256, 8);
  auto test = data.images(256, 9);
  const double truth = data.mean_log_likelihood(test);  // about -5.3 nats
  for (auto [kind, k] :
       {std::make_pair(BoundKind::Elbo, int64_t{1}), std::make_pair(BoundKind::ImportanceWeighted, int64_t{5})}) {
    model::ParamStore store;
    model::ParamStoreScope scope(store);
    Vae net(tiny(), gen(10));
    const FitOptions fit = tiny_fit(kind, k);
    VaeTrainer trainer(net, train, fit);
    const double before = evaluate(net, test, BoundKind::Elbo, 1, gen(11)).per_image;
    EpochResult last;
    for (int e = 0; e < 60; ++e) last = trainer.epoch();
    EXPECT_EQ(last.steps, 8);
    // The bound it was trained on, evaluated on held-out images.
    const double own = evaluate(net, test, kind, k, gen(12)).per_image;
    const double loglik = evaluate(net, test, BoundKind::ImportanceWeighted, 500, gen(13)).per_image;
    SCOPED_TRACE(kind == BoundKind::Elbo ? "elbo" : "iwae");
    EXPECT_LT(before, truth - 5.0);  // an untrained decoder is near 16 log 2 = 11 nats
    // Trained: the log-likelihood estimate within 0.5 nats of the truth, the training bound
    // within 1.5 (a bound: below the estimate up to its MC error).
    EXPECT_GT(loglik, truth - 0.5);
    EXPECT_LT(loglik, truth + 0.5);
    EXPECT_GT(own, truth - 1.5);
    EXPECT_LE(own, loglik + 0.05);
  }
}

TEST(VaeTrainer, DataParallelWorkersTrainAsWellAndRepeatExactly) {
  // Two workers split each batch of 32 (threads with their own generators): the same accuracy as
  // one worker, and two runs with the same seed end on identical weights (two partial gradients
  // add in either order to the same floats).
  Prototypes data;
  auto train = data.images(256, 8);
  auto test = data.images(256, 9);
  const double truth = data.mean_log_likelihood(test);
  std::vector<Tensor> finals;
  for (int run = 0; run < 2; ++run) {
    model::ParamStore store;
    model::ParamStoreScope scope(store);
    Vae net(tiny(), gen(10));
    VaeTrainer trainer(net, train, tiny_fit(BoundKind::Elbo, 1, 2));
    EpochResult last;
    for (int e = 0; e < 60; ++e) last = trainer.epoch();
    EXPECT_EQ(last.steps, 8);
    EXPECT_TRUE(std::isfinite(last.train_bound));
    const double loglik = evaluate(net, test, BoundKind::ImportanceWeighted, 500, gen(13)).per_image;
    EXPECT_GT(loglik, truth - 0.5);
    EXPECT_LT(loglik, truth + 0.5);
    finals.push_back(net.decoder()->logits->weight.detach().clone());
  }
  EXPECT_TRUE(at::equal(finals[0], finals[1]));
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  Vae net(tiny(), gen(10));
  FitOptions bad;
  bad.workers = 0;
  EXPECT_THROW(VaeTrainer(net, train, bad), std::invalid_argument);
  bad.workers = 2;
  bad.share_speeds = {1.0, 0.0};
  EXPECT_THROW(VaeTrainer(net, train, bad), std::invalid_argument);
  bad.share_speeds = {1.0, std::nan("")};
  EXPECT_THROW(VaeTrainer(net, train, bad), std::invalid_argument);
  // One speed per worker, checked when the shares are made (after the first step).
  auto three_for_two = tiny_fit(BoundKind::Elbo, 1, 2);
  three_for_two.share_speeds = {1.0, 1.0, 1.0};
  VaeTrainer mismatched(net, train, three_for_two);
  try {
    mismatched.epoch();
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("share_speeds has 3 entries for 2 workers"), std::string::npos) << e.what();
  }
}

TEST(VaeTrainer, TwoWorkersGradientsAddUpToTheOneWorkerGradient) {
  // With the encoder's scale at exp(-30) the particles' noise is below float rounding, so a
  // batch's gradient depends on the batch alone: the parts of two workers (their own threads
  // and generators) must add up to the gradient one worker computes. Two steps of 32: the first
  // runs on one thread in both (it registers the parameters), the second is split.
  Prototypes data;
  auto train = data.images(64, 8);
  std::vector<std::vector<Tensor>> gradients;
  for (int64_t workers : {1, 2}) {
    model::ParamStore store;
    model::ParamStoreScope scope(store);
    Vae net(tiny(), gen(10));
    {
      at::NoGradGuard no_grad;
      net.encoder()->log_scale->weight.zero_();
      net.encoder()->log_scale->bias.fill_(-30.0);
    }
    auto fit = tiny_fit(BoundKind::Elbo, 1, workers);
    fit.fresh_weight_gradients = true;  // the reused buffers are zero after the update
    VaeTrainer trainer(net, train, fit);
    EXPECT_EQ(trainer.epoch().steps, 2);
    const auto& parts = trainer.worker_gradients();
    ASSERT_EQ(parts.size(), static_cast<size_t>(workers));
    std::vector<Tensor> sum;
    for (size_t i = 0; i < trainer.parameter_names().size(); ++i) {
      Tensor g = at::zeros_like(parts[0].at(i));
      for (const auto& part : parts) {
        ASSERT_TRUE(part.at(i).defined()) << trainer.parameter_names()[i];
        g += part[i];
      }
      sum.push_back(g);
    }
    gradients.push_back(sum);
  }
  ASSERT_EQ(gradients[0].size(), 10u);  // weights and biases of five layers
  for (size_t i = 0; i < gradients[0].size(); ++i) {
    const double scale = gradients[0][i].abs().max().item<double>();
    ASSERT_GT(scale, 0.0);
    // Sums over 16 rows in another order: float rounding, relative to the largest entry.
    EXPECT_LT((gradients[1][i] - gradients[0][i]).abs().max().item<double>(), 1e-5 * scale) << "parameter " << i;
  }
}

TEST(VaeTrainer, ReusedWeightGradientBuffersTrainToTheSameBitsAsFreshGradients) {
  // The weights' gradients go into one buffer per weight that the products add into and that
  // Adam's pass zeroes once a step; with several workers each worker runs every worker's products
  // for its rows into it, and updates those rows right after (or, with check_products_first,
  // after a meeting). Six steps (each buffer reused five times) must end on the same floats as
  // fresh per-worker gradient tensors summed by Adam, with the buffers left zero, either way, and
  // whichever worker computes which rows: balanced by their timing (the default), or fixed and
  // uneven (a cut inside the largest matrix).
  Prototypes data;
  auto train = data.images(64, 8);
  for (int64_t workers : {1, 2, 3}) {
    std::vector<std::vector<Tensor>> finals;
    std::vector<std::vector<std::vector<Tensor>>> last_gradients;
    std::vector<std::string> names;
    // Fresh, reused, reused with the products checked first, reused with fixed uneven shares.
    for (int variant : {0, 1, 2, 3}) {
      model::ParamStore store;
      model::ParamStoreScope scope(store);
      Vae net(tiny(), gen(10));
      auto fit = tiny_fit(BoundKind::Elbo, 1, workers);
      fit.fresh_weight_gradients = variant == 0;
      fit.check_products_first = variant == 2;
      if (variant == 3) {
        fit.balance_shares = false;
        fit.share_speeds = std::vector<std::vector<double>>{{2.0}, {1.0, 3.0}, {3.0, 1.0, 2.0}}[workers - 1];
      }
      VaeTrainer trainer(net, train, fit);
      for (int e = 0; e < 3; ++e) trainer.epoch();
      std::vector<Tensor> params;
      for (const auto& name : trainer.parameter_names()) {
        params.push_back(store.entry(name).unconstrained.detach().clone());
      }
      finals.push_back(params);
      names = trainer.parameter_names();
      last_gradients.push_back({});
      for (const auto& part : trainer.worker_gradients()) {
        last_gradients.back().push_back({});
        for (const auto& g : part) last_gradients.back().back().push_back(g.defined() ? g.clone() : g);
      }
    }
    for (size_t v = 1; v < finals.size(); ++v) {
      ASSERT_EQ(finals[0].size(), finals[v].size());
      for (size_t i = 0; i < finals[0].size(); ++i) {
        EXPECT_TRUE(at::equal(finals[0][i], finals[v][i]))
            << "parameter " << i << ", " << workers << " workers, variant " << v;
      }
    }
    const auto& fresh = last_gradients[0];
    for (size_t v = 1; v < last_gradients.size(); ++v) {
      const auto& reused = last_gradients[v];
      ASSERT_EQ(fresh.size(), reused.size());
      for (size_t w = 0; w < fresh.size(); ++w) {
        ASSERT_EQ(fresh[w].size(), reused[w].size());
        for (size_t i = 0; i < fresh[w].size(); ++i) {
          if (!fresh[w][i].defined() || fresh[w][i].dim() != 2) continue;
          EXPECT_GT(fresh[w][i].abs().max().item<double>(), 0.0) << names[i];
          EXPECT_EQ(reused[w][i].abs().max().item<double>(), 0.0) << names[i] << ", worker " << w << ", variant " << v;
        }
      }
    }
  }
}

TEST(VaeTrainer, ChangingTheWorkerCountKeepsReusedBuffersExact) {
  // Adam zeroes the buffers of as many workers as the step has: switching 2 -> 1 -> 2 must still
  // train to the same floats as fresh gradient tensors.
  Prototypes data;
  auto train = data.images(64, 8);
  std::vector<std::vector<Tensor>> finals;
  for (bool fresh : {true, false}) {
    model::ParamStore store;
    model::ParamStoreScope scope(store);
    Vae net(tiny(), gen(10));
    auto fit = tiny_fit(BoundKind::Elbo, 1, 2);
    fit.fresh_weight_gradients = fresh;
    VaeTrainer trainer(net, train, fit);
    for (int64_t workers : {2, 1, 2, 1}) {
      trainer.set_workers(workers);
      trainer.epoch();
    }
    finals.push_back({});
    for (const auto& name : trainer.parameter_names()) {
      finals.back().push_back(store.entry(name).unconstrained.detach().clone());
    }
  }
  ASSERT_EQ(finals[0].size(), finals[1].size());
  for (size_t i = 0; i < finals[0].size(); ++i) EXPECT_TRUE(at::equal(finals[0][i], finals[1][i])) << "parameter " << i;
}

TEST(VaeTrainer, AOneRowBatchLeavesOneWorkerWithoutRows) {
  // 33 images in batches of 32: the last batch has one row, so one of two workers gets none
  // and contributes no gradient; the step still counts that image.
  Prototypes data;
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  Vae net(tiny(), gen(10));
  VaeTrainer trainer(net, data.images(33, 8), tiny_fit(BoundKind::Elbo, 1, 2));
  for (int e = 0; e < 2; ++e) {
    const auto r = trainer.epoch();
    EXPECT_EQ(r.steps, 2);
    EXPECT_TRUE(std::isfinite(r.train_bound));
    EXPECT_LT(r.train_bound, 0.0);
  }
  const auto& parts = trainer.worker_gradients();
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_NE(parts[0].empty() || !parts[0][0].defined(), parts[1].empty() || !parts[1][0].defined());
}

TEST(VaeTrainer, NonFiniteStepsAreSkippedCountedAndLeaveTheParametersFinite) {
  // One image of 64 is NaN: in every epoch exactly one of the two batches holds it; that step
  // is skipped (for one and for two workers) and the epoch's bound averages the other images.
  Prototypes data;
  Tensor train = data.images(64, 8);
  train[5].fill_(std::numeric_limits<float>::quiet_NaN());
  for (int64_t workers : {1, 2}) {
    model::ParamStore store;
    model::ParamStoreScope scope(store);
    Vae net(tiny(), gen(10));
    VaeTrainer trainer(net, train, tiny_fit(BoundKind::Elbo, 1, workers));
    for (int e = 0; e < 3; ++e) {
      const auto r = trainer.epoch();
      EXPECT_EQ(r.steps, 2);
      EXPECT_EQ(r.skipped_steps, 1) << workers << " workers, epoch " << e;
      EXPECT_TRUE(std::isfinite(r.train_bound));
    }
    EXPECT_EQ(trainer.skipped_steps(), 3);
    for (const auto& name : trainer.parameter_names()) {
      EXPECT_TRUE(store.entry(name).unconstrained.isfinite().all().item<bool>()) << name;
    }
  }
}

TEST(VaeTrainer, TooManyConsecutiveNonFiniteStepsStopWithTheParametersUntouched) {
  Prototypes data;
  const Tensor train = at::full({128, Prototypes::kPixels}, std::numeric_limits<float>::infinity());
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  Vae net(tiny(), gen(10));
  auto fit = tiny_fit(BoundKind::Elbo, 1, 2);
  fit.max_consecutive_nonfinite = 3;
  VaeTrainer trainer(net, train, fit);
  auto parameters = [&] {
    auto all = net.encoder()->parameters();
    for (const auto& p : net.decoder()->parameters()) all.push_back(p);
    return all;
  };
  std::vector<Tensor> before;
  for (const auto& p : parameters()) before.push_back(p.detach().clone());
  try {
    trainer.epoch();
    FAIL() << "expected NonFiniteTrainingError";
  } catch (const infer::NonFiniteTrainingError& e) {
    EXPECT_NE(std::string(e.what()).find("3 consecutive steps"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("(last: loss)"), std::string::npos) << e.what();
  }
  EXPECT_EQ(trainer.skipped_steps(), 3);
  const auto after = parameters();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(at::equal(after[i], before[i])) << "parameter " << i;
  auto bad = tiny_fit(BoundKind::Elbo, 1);
  bad.max_consecutive_nonfinite = 0;
  EXPECT_THROW(VaeTrainer(net, data.images(8, 1), bad), std::invalid_argument);
}

TEST(VaeCheckpoint, AResumedTrainerContinuesExactlyAsTheUninterruptedRun) {
  Prototypes data;
  const Tensor train = data.images(96, 8);
  const auto dir = std::filesystem::temp_directory_path() / "amortize_vae_resume_test";
  std::filesystem::create_directories(dir);
  const auto state = (dir / "trainer.pt").string(), weights = (dir / "vae.pt").string();
  auto parameters_of = [](const model::ParamStore& store, const VaeTrainer& trainer) {
    std::vector<Tensor> out;
    for (const auto& name : trainer.parameter_names()) out.push_back(store.entry(name).unconstrained.detach().clone());
    return out;
  };
  // Saved before the first step or after two epochs, with one and two workers.
  for (const auto& [workers, split] : {std::pair<int64_t, int>{1, 0}, {1, 2}, {2, 0}, {2, 2}}) {
    auto fit = tiny_fit(BoundKind::ImportanceWeighted, 3, workers);
    std::vector<double> straight_bounds;
    std::vector<Tensor> straight;
    {
      model::ParamStore store;
      model::ParamStoreScope scope(store);
      Vae net(tiny(), gen(10));
      VaeTrainer trainer(net, train, fit);
      for (int e = 0; e < 4; ++e) straight_bounds.push_back(trainer.epoch().train_bound);
      straight = parameters_of(store, trainer);
    }
    {
      model::ParamStore store;
      model::ParamStoreScope scope(store);
      Vae net(tiny(), gen(10));
      VaeTrainer trainer(net, train, fit);
      net.save(weights);
      for (int e = 0; e < split; ++e) trainer.epoch();
      trainer.save_state(state, "split " + std::to_string(split));
    }
    model::ParamStore store;
    model::ParamStoreScope scope(store);
    Vae net(tiny(), gen(99));  // other initial weights: the state holds the parameters
    VaeTrainer trainer(net, train, fit);
    if (split == 0) net.load(weights);  // nothing trained yet: the state holds no parameters
    EXPECT_EQ(trainer.load_state(state), "split " + std::to_string(split));
    EXPECT_EQ(trainer.epochs_done(), split);
    for (int e = split; e < 4; ++e) {
      const auto r = trainer.epoch();
      EXPECT_EQ(r.epoch, e + 1);
      EXPECT_EQ(r.train_bound, straight_bounds[static_cast<size_t>(e)])
          << workers << " workers, split " << split << ", epoch " << e + 1;
    }
    const auto resumed = parameters_of(store, trainer);
    ASSERT_EQ(resumed.size(), straight.size());
    for (size_t i = 0; i < straight.size(); ++i) {
      EXPECT_TRUE(at::equal(resumed[i], straight[i])) << workers << " workers, parameter " << i;
    }
    EXPECT_THROW(trainer.load_state(state), std::logic_error);  // only before the first step
  }
  std::filesystem::resize_file(state, std::filesystem::file_size(state) / 2);
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  Vae net(tiny(), gen(10));
  VaeTrainer trainer(net, train, tiny_fit(BoundKind::Elbo, 1));
  EXPECT_THROW(trainer.load_state(state), infer::CheckpointError);
  std::filesystem::remove_all(dir);
}

TEST(VaeCheckpoint, SaveAndLoadRestoreTheEncoder) {
  const auto path = (std::filesystem::temp_directory_path() / "amortize_vae_test.pt").string();
  Vae a(tiny(), gen(20));
  Vae b(tiny(), gen(21));
  auto x = Prototypes().images(4, 22).to(at::kFloat);
  EXPECT_FALSE(at::allclose(a.encode(x).first, b.encode(x).first));
  a.save(path);
  b.load(path);
  EXPECT_TRUE(at::equal(a.encode(x).first, b.encode(x).first));
  EXPECT_TRUE(at::equal(a.encode(x).second, b.encode(x).second));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));  // written under a temporary name, renamed
  EXPECT_THROW(b.load(path + ".missing"), infer::CheckpointError);
  // Other sizes, or a truncated file: a CheckpointError naming the file.
  Vae wider(VaeOptions{Prototypes::kPixels, 24, 2}, gen(23));
  const auto wider_before = wider.encode(x);
  try {
    wider.load(path);
    FAIL() << "loaded a checkpoint of other sizes";
  } catch (const infer::CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  EXPECT_TRUE(at::equal(wider.encode(x).first, wider_before.first));  // refused before any weight changed
  const auto size = std::filesystem::file_size(path);
  std::filesystem::resize_file(path, size / 2);
  EXPECT_THROW(b.load(path), infer::CheckpointError);
  std::filesystem::remove(path);
}

TEST(ImageGrid, WritesAPngOfTheRightSize) {
  const auto path = (std::filesystem::temp_directory_path() / "amortize_vae_grid.png").string();
  write_png_grid(path, at::rand({10, 28, 28}, gen(30)), 4);
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 33u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  auto u32 = [&](size_t at) {
    return (uint32_t(uint8_t(bytes[at])) << 24) | (uint32_t(uint8_t(bytes[at + 1])) << 16) |
           (uint32_t(uint8_t(bytes[at + 2])) << 8) | uint32_t(uint8_t(bytes[at + 3]));
  };
  EXPECT_EQ(u32(16), 4u * 29 + 1);  // width: 4 tiles of 28 plus gaps
  EXPECT_EQ(u32(20), 3u * 29 + 1);  // height: 3 rows
  std::filesystem::remove(path);
}

TEST(Evaluate, ParticleChunksCombineIntoTheSameBound) {
  // max_elements = 64 particles x 16 pixels: K = 256 runs in 4 chunks of 64 combined exactly
  // (log-mean-exp of chunk means); the one-chunk run must agree within the Monte-Carlo error.
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  Vae net(tiny(), gen(40), at::kDouble);
  auto x = Prototypes().images(32, 41).to(at::kDouble);
  for (auto kind : {BoundKind::ImportanceWeighted, BoundKind::Elbo}) {
    std::vector<double> whole, chunked;
    for (uint64_t r = 0; r < 8; ++r) {
      whole.push_back(evaluate(net, x, kind, 256, gen(50 + r), int64_t{1} << 20).per_image);
      chunked.push_back(evaluate(net, x, kind, 256, gen(60 + r), 64 * Prototypes::kPixels).per_image);
    }
    auto stats = [](const std::vector<double>& v) {
      double m = 0, q = 0;
      for (double a : v) m += a / v.size();
      for (double a : v) q += (a - m) * (a - m) / (v.size() - 1);
      return std::make_pair(m, q / v.size());
    };
    auto [mw, vw] = stats(whole);
    auto [mc, vc] = stats(chunked);
    SCOPED_TRACE(kind == BoundKind::Elbo ? "elbo" : "iwae");
    EXPECT_NEAR(mw, mc, 4 * std::sqrt(vw + vc) + 1e-9);
    // A chunk-wise average of IWAE-64 bounds would sit visibly lower: check we are above it.
    if (kind == BoundKind::ImportanceWeighted) {
      double iwae64 = 0;
      for (uint64_t r = 0; r < 8; ++r) iwae64 += evaluate(net, x, kind, 64, gen(70 + r)).per_image / 8;
      EXPECT_GT(mc, iwae64);
    }
  }
}
