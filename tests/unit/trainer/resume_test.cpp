// Checkpoints and bit-for-bit resumption: N steps in one run equal N/2 steps, a fresh
// process-like state (new parameter store, optimiser, generator and trainer), a resume from the
// checkpoint and N/2 more steps.
#include "amortize/dist/continuous/normal.hpp"
#include "amortize/dist/discrete/bernoulli.hpp"
#include "amortize/infer/checkpoint.hpp"
#include "amortize/infer/elbo.hpp"
#include "amortize/infer/guides/auto_normal.hpp"
#include "amortize/infer/optim/adam.hpp"
#include "amortize/infer/optim/sgd.hpp"
#include "amortize/infer/svi.hpp"
#include "amortize/infer/trainer.hpp"
#include "amortize/model/param_store.hpp"
#include "amortize/model/primitives.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace amortize;
using namespace amortize::infer;
using amortize::dist::Normal;

namespace {
at::TensorOptions f64() { return at::TensorOptions().dtype(at::kDouble); }

std::filesystem::path temp_dir() {
  return std::filesystem::temp_directory_path() / ("amortize_trainer_test_" + std::to_string(::getpid()));
}

std::string temp_path(const std::string& name) {
  std::filesystem::create_directories(temp_dir());
  return (temp_dir() / name).string();
}

// Removes this process's checkpoint folder (shared with trainer_test.cpp) at the end.
class RemoveTempDir : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(temp_dir(), ignored);
  }
};
const auto* const kRemoveTempDir = ::testing::AddGlobalTestEnvironment(new RemoveTempDir);

// A plain closure: parameters created lazily in the active store, noise from the generator,
// and state of its own outside the parameters (a running average of the noise).
LossFn noisy_quadratic(at::Generator gen, std::shared_ptr<Tensor> average = nullptr) {
  return [gen, average](int64_t) mutable {
    auto& store = model::active_param_store();
    Tensor w = store.get_or_create("w", at::zeros({5}, f64()), dist::constraints::real());
    Tensor s = store.get_or_create("s", at::ones({}, f64()), dist::constraints::positive());
    Tensor noise = at::randn({5}, gen, f64());
    Tensor target = at::linspace(-1.0, 1.0, 5, f64());
    Tensor loss = ((w - target - 0.3 * noise).square() * s).sum() + (s - 2.0).square();
    if (average) {
      *average = 0.9 * *average + 0.1 * noise;
      loss = loss + (w * *average).sum();
    }
    return loss;
  };
}

void keep_extra_state(TrainerOptions& o, const std::shared_ptr<Tensor>& average) {
  o.save_extra_state = [average] { return std::map<std::string, Tensor>{{"average", *average}}; };
  o.load_extra_state = [average](const std::map<std::string, Tensor>& m) { *average = m.at("average").clone(); };
}

TrainerOptions quiet(int64_t max_steps) {
  TrainerOptions o;
  o.max_steps = max_steps;
  o.progress = ProgressMode::kSilent;
  o.schedule = optim::linear_warmup(20, optim::exponential_decay_over(0.1, 200));
  // The stopping rule's window is part of the resumed state (tolerance too small to stop).
  o.convergence.enabled = true;
  o.convergence.eval_every = 7;
  o.convergence.tolerance = 1e-300;
  o.convergence.window = 3;
  return o;
}

std::map<std::string, Tensor> snapshot(const model::ParamStore& store) {
  std::map<std::string, Tensor> out;
  for (const auto& name : store.names()) out[name] = store.entry(name).unconstrained.detach().clone();
  return out;
}

// The same parameter names with bitwise-equal values; the failure names every parameter that differs.
::testing::AssertionResult same_params(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  if (a.size() != b.size()) {
    return ::testing::AssertionFailure() << a.size() << " parameters against " << b.size();
  }
  std::ostringstream differing;
  for (const auto& [name, t] : a) {
    if (!b.count(name))
      return ::testing::AssertionFailure() << "parameter " << name << " is missing from the second run";
    if (!torch::equal(t, b.at(name))) {
      differing << " " << name << " (max |difference| " << (t - b.at(name)).abs().max().item<double>() << ")";
    }
  }
  if (differing.str().empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "parameters differ:" << differing.str();
}
}  // namespace

TEST(TrainerResume, PlainClosureContinuesBitForBit) {
  const std::string ckpt = temp_path("plain.ckpt");
  std::vector<double> straight_log, resumed_log;
  std::map<std::string, Tensor> straight;
  {
    model::ParamStore store;
    model::ParamStoreScope scope(store);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
    auto opts = quiet(200);
    auto average = std::make_shared<Tensor>(at::zeros({5}, f64()));
    keep_extra_state(opts, average);
    opts.on_step = [&](int64_t, double elbo) { straight_log.push_back(elbo); };
    Trainer trainer(noisy_quadratic(gen, average), std::make_shared<optim::Adam>(0.05), gen, opts);
    auto result = trainer.run();
    EXPECT_EQ(result.steps, 200);
    EXPECT_FALSE(result.converged);
    straight = snapshot(store);
  }
  {
    model::ParamStore store;
    model::ParamStoreScope scope(store);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
    auto opts = quiet(100);
    auto average = std::make_shared<Tensor>(at::zeros({5}, f64()));
    keep_extra_state(opts, average);
    opts.checkpoint_path = ckpt;
    Trainer trainer(noisy_quadratic(gen, average), std::make_shared<optim::Adam>(0.05), gen, opts);
    trainer.run();
  }
  EXPECT_FALSE(std::filesystem::exists(ckpt + ".tmp"));
  std::map<std::string, Tensor> resumed;
  {
    model::ParamStore store;  // a fresh process: no parameters, another seed
    model::ParamStoreScope scope(store);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(12345);
    auto opts = quiet(200);
    auto average = std::make_shared<Tensor>(at::zeros({5}, f64()));
    keep_extra_state(opts, average);
    opts.on_step = [&](int64_t step, double elbo) {
      EXPECT_GT(step, 100);
      resumed_log.push_back(elbo);
    };
    Trainer trainer(noisy_quadratic(gen, average), std::make_shared<optim::Adam>(0.05), gen, opts);
    trainer.resume(ckpt);
    EXPECT_EQ(trainer.steps_done(), 100);
    EXPECT_EQ(trainer.optimizer().steps(), 100);
    trainer.run();
    resumed = snapshot(store);
  }
  EXPECT_TRUE(same_params(straight, resumed));
  ASSERT_EQ(resumed_log.size(), 100u);
  for (size_t i = 0; i < 100; ++i) EXPECT_EQ(resumed_log[i], straight_log[100 + i]) << "step " << 101 + i;
}

namespace {
// mu ~ N(0, 2), x_i ~ N(mu, 1), with an AutoNormal guide trained by Svi's loss through a Trainer.
struct NormalMean {
  Tensor x = at::linspace(-1.0, 3.0, 20, f64());
  void operator()() const {
    auto mu = model::sample("mu", Normal(at::zeros({}, f64()), 2.0));
    auto nu = model::sample("nu", Normal(at::zeros({}, f64()), 1.0));
    auto data = model::plate("data", x.size(0));
    model::sample("x", Normal(mu + 0.1 * nu, 1.0), data, x);
  }
};

// Runs svi's trainer with opts, checkpointing to save_to and resuming from resume_from (each when
// given), and returns the parameters the run ends with.
std::map<std::string, Tensor> train_and_snapshot(Svi& svi, TrainerOptions opts, const std::string& save_to,
                                                 const std::string& resume_from, const model::ParamStore& store) {
  opts.checkpoint_path = save_to;
  auto trainer = svi.trainer(opts);
  if (!resume_from.empty()) trainer->resume(resume_from);
  trainer->run();
  return snapshot(store);
}

std::map<std::string, Tensor> fit_svi(int64_t max_steps, uint64_t seed, const std::string& save_to,
                                      const std::string& resume_from, std::vector<double>* log = nullptr) {
  NormalMean model;
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  // Explicit initial values keep this test about the trainer, not about init strategies.
  auto guide = std::make_shared<AutoNormal>(
      [&] { model(); },
      InitStrategy::from_values({{"mu", at::scalar_tensor(0.5, f64())}, {"nu", at::scalar_tensor(-0.2, f64())}}));
  Svi svi([&] { model(); }, guide->program(), std::make_shared<TraceElbo>(ElboOptions{4}),
          {0.02, seed, 0.999, std::make_shared<optim::ClippedAdam>(0.02, optim::ClippedAdamOptions{})});
  auto opts = quiet(max_steps);
  opts.schedule = nullptr;  // Svi's own (its learning-rate decay)
  if (log) opts.on_step = [log](int64_t, double elbo) { log->push_back(elbo); };
  return train_and_snapshot(svi, opts, save_to, resume_from, store);
}
}  // namespace

TEST(TrainerResume, SviWithAutoNormalContinuesBitForBit) {
  const std::string ckpt = temp_path("svi.ckpt");
  std::vector<double> straight_log, first_log, resumed_log;
  auto straight = fit_svi(200, 3, "", "", &straight_log);
  fit_svi(100, 3, ckpt, "", &first_log);
  auto resumed = fit_svi(200, 999, "", ckpt, &resumed_log);
  EXPECT_TRUE(same_params(straight, resumed));
  ASSERT_EQ(first_log.size(), 100u);
  ASSERT_EQ(resumed_log.size(), 100u);
  for (size_t i = 0; i < 100; ++i) {
    EXPECT_EQ(first_log[i], straight_log[i]) << "step " << i + 1;
    EXPECT_EQ(resumed_log[i], straight_log[100 + i]) << "step " << 101 + i;
  }
  // And the run moved: the guide is not at its initial values.
  EXPECT_GT(straight.size(), 1u);
}

TEST(TrainerResume, ResumingTwiceFromTheSameCheckpointGivesTheSameRun) {
  const std::string ckpt = temp_path("svi_twice.ckpt");
  fit_svi(50, 3, ckpt, "");
  auto a = fit_svi(80, 1, "", ckpt);
  auto b = fit_svi(80, 2, "", ckpt);
  EXPECT_TRUE(same_params(a, b));
}

TEST(Checkpoint, MissingCorruptOrForeignFilesThrowAOneLineErrorNamingTheFile) {
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  Trainer trainer(noisy_quadratic(gen), std::make_shared<optim::Adam>(0.05), gen, quiet(10));
  auto expect_error = [&](const std::string& path, const std::string& what) {
    try {
      trainer.resume(path);
      FAIL() << "resumed from " << path;
    } catch (const CheckpointError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(path), std::string::npos) << msg;
      EXPECT_NE(msg.find(what), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  };
  expect_error(temp_path("does_not_exist.ckpt"), "no such file");
  const std::string garbage = temp_path("garbage.ckpt");
  std::ofstream(garbage) << "this is not a checkpoint";
  expect_error(garbage, "corrupt");
  // A valid checkpoint cut in half.
  const std::string good = temp_path("good.ckpt");
  trainer.run();
  trainer.save_checkpoint(good);
  const auto size = std::filesystem::file_size(good);
  const std::string truncated = temp_path("truncated.ckpt");
  std::filesystem::copy_file(good, truncated, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::resize_file(truncated, size / 2);
  expect_error(truncated, "corrupt");
  // A failed write leaves the previous checkpoint whole (here the temporary file cannot be
  // created because a folder is in its way).
  const std::string kept = temp_path("kept.ckpt");
  trainer.save_checkpoint(kept);
  const auto kept_size = std::filesystem::file_size(kept);
  std::filesystem::create_directories(kept + ".tmp");
  try {
    trainer.save_checkpoint(kept);
    FAIL() << "wrote through a folder";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find(kept), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(kept + ".tmp");
  EXPECT_EQ(std::filesystem::file_size(kept), kept_size);
  EXPECT_NO_THROW(trainer.resume(kept));
  // A checkpoint of parameters this run does not have.
  {
    model::ParamStore other;
    model::ParamStoreScope other_scope(other);
    auto gen2 = at::make_generator<at::CPUGeneratorImpl>(1);
    LossFn different = [](int64_t) {
      Tensor v = model::active_param_store().get_or_create("v", at::zeros({2}, f64()), dist::constraints::real());
      return v.square().sum();
    };
    Trainer t2(different, std::make_shared<optim::Adam>(0.05), gen2, quiet(10));
    try {
      t2.resume(good);
      FAIL() << "resumed a checkpoint of other parameters";
    } catch (const CheckpointError& e) {
      EXPECT_NE(std::string(e.what()).find("'s'"), std::string::npos) << e.what();
    }
  }
  // The right optimiser type is required.
  {
    model::ParamStore other;
    model::ParamStoreScope other_scope(other);
    auto gen2 = at::make_generator<at::CPUGeneratorImpl>(1);
    Trainer t2(noisy_quadratic(gen2), std::make_shared<optim::Sgd>(0.05), gen2, quiet(10));
    EXPECT_THROW(t2.resume(good), CheckpointError);
  }
}

namespace {
// A discrete latent: its score-function gradient uses the ELBO's decaying baseline, which the
// checkpoint must carry for the resumed run to match.
std::map<std::string, Tensor> fit_discrete(int64_t max_steps, uint64_t seed, const std::string& save_to,
                                           const std::string& resume_from) {
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  Tensor x = at::linspace(0.0, 2.0, 10, f64());
  auto model = [&] {
    auto z = model::sample("z", dist::Bernoulli::from_probs(at::scalar_tensor(0.3, f64())));
    auto data = model::plate("data", x.size(0));
    model::sample("x", Normal(2.0 * z, 1.0), data, x);
  };
  auto guide = [&] {
    model::sample("z", dist::Bernoulli::from_logits(model::param("phi", at::scalar_tensor(0.0, f64()))));
  };
  Svi svi(model, guide, std::make_shared<TraceElbo>(ElboOptions{4}), {0.05, seed});
  return train_and_snapshot(svi, quiet(max_steps), save_to, resume_from, store);
}
}  // namespace

TEST(TrainerResume, ScoreFunctionBaselinesTravelWithTheCheckpoint) {
  const std::string ckpt = temp_path("discrete.ckpt");
  auto straight = fit_discrete(200, 3, "", "");
  fit_discrete(100, 3, ckpt, "");
  auto resumed = fit_discrete(200, 77, "", ckpt);
  EXPECT_TRUE(same_params(straight, resumed));
}
