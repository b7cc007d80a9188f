#include "amortize/infer/trainer.hpp"
#include "amortize/infer/checkpoint.hpp"
#include "amortize/infer/optim/adam.hpp"
#include "amortize/infer/optim/sgd.hpp"
#include "amortize/model/param_store.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <unistd.h>
#include <cmath>

#include <filesystem>
#include <limits>
#include <sstream>

using namespace amortize;
using namespace amortize::infer;

namespace {
at::TensorOptions f64() { return at::TensorOptions().dtype(at::kDouble); }
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Tensor store_param(const std::string& name, const Tensor& init) {
  return model::active_param_store().get_or_create(name, init, dist::constraints::real());
}

TrainerOptions quiet(int64_t max_steps) {
  TrainerOptions o;
  o.max_steps = max_steps;
  o.progress = ProgressMode::kSilent;
  return o;
}

std::string temp_path(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("amortize_trainer_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}
}  // namespace

TEST(Trainer, MinimisesAPlainClosureAndLogsEveryStep) {
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  std::vector<int64_t> logged;
  auto opts = quiet(300);
  opts.on_step = [&](int64_t step, double) { logged.push_back(step); };
  Trainer trainer([](int64_t) { return (store_param("w", at::zeros({3}, f64())) - 2.0).square().sum(); },
                  std::make_shared<optim::Adam>(0.1), gen, opts);
  auto result = trainer.run();
  EXPECT_EQ(result.steps, 300);
  EXPECT_EQ(result.stop_reason, "step budget");
  EXPECT_EQ(logged.size(), 300u);
  for (size_t i = 0; i < logged.size(); ++i) EXPECT_EQ(logged[i], static_cast<int64_t>(i + 1));
  EXPECT_TRUE(at::allclose(store.entry("w").unconstrained.detach(), at::full({3}, 2.0, f64()), 0, 1e-2));
  // ELBO defaults to -loss.
  EXPECT_LE(result.last_elbo, 0.0);
  EXPECT_GT(result.last_elbo, -1e-3);
}

TEST(Trainer, ScheduleScalesTheLearningRate) {
  // SGD on f(w) = w: each step moves w by -lr * schedule(step).
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  auto opts = quiet(4);
  opts.schedule = optim::step_schedule(2, 0.5);
  Trainer trainer([](int64_t) { return store_param("w", at::zeros({}, f64())).sum(); },
                  std::make_shared<optim::Sgd>(1.0), gen, opts);
  trainer.run();
  EXPECT_DOUBLE_EQ(store.entry("w").unconstrained.item<double>(), -(1.0 + 1.0 + 0.5 + 0.5));
}

TEST(Trainer, SkipsNonFiniteLossesAndGradientsNamingTheCulprit) {
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  std::ostringstream log;
  auto opts = quiet(8);
  opts.progress = ProgressMode::kLines;
  opts.progress_stream = &log;
  std::vector<double> elbos;
  opts.on_step = [&](int64_t, double e) { elbos.push_back(e); };
  auto optimizer = std::make_shared<optim::Adam>(0.1);
  Trainer trainer(
      [](int64_t step) -> LossEvaluation {
        Tensor w = store_param("w", at::ones({2}, f64()));
        Tensor v = store_param("v", at::ones({2}, f64()));
        Tensor loss = w.square().sum() + v.square().sum();
        if (step == 2) return loss * kNaN;
        // d/dv sqrt(0 * v) = 0 * inf: a finite loss with a NaN gradient.
        if (step == 4) return loss + (v * 0.0).sqrt().sum();
        return loss;
      },
      optimizer, gen, opts);
  std::map<std::string, Tensor> before;
  for (int i = 0; i < 8; ++i) {
    Tensor w_before = store.contains("w") ? store.entry("w").unconstrained.detach().clone() : Tensor();
    const int64_t opt_steps = optimizer->steps();
    const bool applied = trainer.step();
    EXPECT_EQ(applied, i != 2 && i != 4) << "step " << i;
    if (!applied) {
      EXPECT_TRUE(torch::equal(store.entry("w").unconstrained.detach(), w_before));
      EXPECT_EQ(optimizer->steps(), opt_steps);
      EXPECT_EQ(trainer.last_skip_reason(), i == 2 ? "loss" : "gradient of 'v'");
    }
  }
  EXPECT_EQ(trainer.skipped_steps(), 2);
  EXPECT_EQ(trainer.consecutive_nonfinite(), 0);
  EXPECT_EQ(optimizer->steps(), 6);
  EXPECT_NE(log.str().find("step 3: skipped, non-finite loss"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("step 5: skipped, non-finite gradient of 'v'"), std::string::npos) << log.str();
  EXPECT_TRUE(std::isnan(elbos[2]));
}

TEST(Trainer, StopsAfterKConsecutiveNonFiniteStepsLeavingTheLastGoodCheckpoint) {
  const std::string ckpt = temp_path("nan_guard.ckpt");
  std::filesystem::remove(ckpt);
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  auto opts = quiet(100);
  opts.checkpoint_path = ckpt;
  opts.checkpoint_every = 4;
  opts.max_consecutive_nonfinite = 5;
  Tensor w_at_10;
  Trainer trainer(
      [&](int64_t step) {
        Tensor w = store_param("w", at::ones({2}, f64()));
        if (step == 10) w_at_10 = w.detach().clone();
        return step >= 10 ? w.sum() * kNaN : w.square().sum();
      },
      std::make_shared<optim::Adam>(0.1), gen, opts);
  try {
    trainer.run();
    FAIL() << "no error after consecutive non-finite steps";
  } catch (const NonFiniteTrainingError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("5 consecutive"), std::string::npos) << msg;
    EXPECT_NE(msg.find("loss"), std::string::npos) << msg;
    EXPECT_NE(msg.find(ckpt), std::string::npos) << msg;
  }
  EXPECT_EQ(trainer.steps_done(), 15);
  // The checkpoint is the one of step 8, the last multiple of 4 before the failures.
  model::ParamStore fresh;
  model::ParamStoreScope fresh_scope(fresh);
  Trainer reader([](int64_t) { return store_param("w", at::ones({2}, f64())).square().sum(); },
                 std::make_shared<optim::Adam>(0.1), gen, quiet(100));
  reader.resume(ckpt);
  EXPECT_EQ(reader.steps_done(), 8);
  EXPECT_FALSE(torch::equal(fresh.entry("w").unconstrained.detach(), w_at_10));
}

TEST(RelativeChangeRule, ConvergesByMeanOnAFlatElbo) {
  RelativeChangeRule rule(10, 0.01, 5);
  int converged_at = -1;
  for (int i = 1; i <= 100 && converged_at < 0; ++i) {
    if (rule.observe(-100.0)) converged_at = i;
  }
  // Two relative changes are needed, i.e. three blocks of ten.
  EXPECT_EQ(converged_at, 30);
  EXPECT_EQ(rule.converged_by(), "mean");
}

TEST(RelativeChangeRule, ConvergesByMedianDespiteOneJump) {
  // Block means -200, -100, -100, -100: changes 1, 0, 0 -> mean 1/3 but median 0.
  RelativeChangeRule rule(1, 0.01, 5);
  EXPECT_FALSE(rule.observe(-200.0));
  EXPECT_FALSE(rule.observe(-100.0));
  EXPECT_FALSE(rule.observe(-100.0));  // changes {1, 0}: mean and median 0.5
  EXPECT_TRUE(rule.observe(-100.0));
  EXPECT_EQ(rule.converged_by(), "median");
  EXPECT_NEAR(rule.mean_change(), 1.0 / 3.0, 1e-12);
}

TEST(RelativeChangeRule, KeepsGoingWhileTheElboImproves) {
  RelativeChangeRule rule(10, 0.01, 3);
  for (int i = 0; i < 300; ++i) EXPECT_FALSE(rule.observe(-1000.0 * std::exp(-i / 100.0) - 1.0)) << i;
}

TEST(Trainer, StopsEarlyOnceTheElboIsFlat) {
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  auto opts = quiet(5000);
  opts.convergence.enabled = true;
  opts.convergence.eval_every = 50;
  opts.convergence.tolerance = 1e-3;
  Trainer trainer([](int64_t) { return (store_param("w", at::zeros({3}, f64())) - 2.0).square().sum() + 10.0; },
                  std::make_shared<optim::Adam>(0.1), gen, opts);
  auto result = trainer.run();
  EXPECT_TRUE(result.converged);
  EXPECT_LT(result.steps, 1000);
  EXPECT_EQ(result.steps % 50, 0);
  EXPECT_NE(result.stop_reason.find("converged"), std::string::npos);
}

namespace {
// 0.5 |w - c - noise|^2 with noise ~ N(0, (noise_sd^2 / b) I) for batch size b.
struct NoisyMean {
  double noise_sd;
  int64_t batch = 1;
  at::Generator gen;
  Tensor operator()(int64_t) {
    Tensor w = store_param("w", at::zeros({10}, f64()));
    Tensor target = at::full({10}, 5.0, f64());
    Tensor noise = at::randn({10}, gen, f64()) * (noise_sd / std::sqrt(static_cast<double>(batch)));
    return 0.5 * (w - target - noise).square().sum();
  }
};

// The batch size a run ends with, as the trainer reports it and as it last set it on the problem.
struct FinalBatch {
  int64_t reported;
  int64_t applied;
};

FinalBatch final_batch(double noise_sd, std::vector<int64_t>* growth_steps = nullptr) {
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  auto problem = std::make_shared<NoisyMean>(NoisyMean{noise_sd, 1, gen});
  auto opts = quiet(300);
  opts.adaptive_batch.enabled = true;
  opts.adaptive_batch.initial_batch_size = 1;
  opts.adaptive_batch.max_batch_size = 64;
  opts.adaptive_batch.window = 25;
  opts.adaptive_batch.snr_threshold = 1.0;
  int64_t step_now = 0;
  opts.adaptive_batch.set_batch_size = [problem, growth_steps, &step_now](int64_t b) {
    problem->batch = b;
    if (growth_steps) growth_steps->push_back(step_now);
  };
  opts.on_step = [&](int64_t s, double) { step_now = s; };
  Trainer trainer([problem](int64_t s) { return (*problem)(s); }, std::make_shared<optim::Sgd>(0.1), gen, opts);
  auto result = trainer.run();
  return {result.batch_size, problem->batch};
}
}  // namespace

TEST(Trainer, AdaptiveBatchGrowsOnANoisyGradient) {
  std::vector<int64_t> growth;
  const auto batch = final_batch(10.0, &growth);
  EXPECT_GE(batch.reported, 8);
  EXPECT_EQ(batch.reported, batch.applied);
  ASSERT_FALSE(growth.empty());
  // Growth happens only at the end of a window.
  for (int64_t s : growth) EXPECT_EQ((s + 1) % 25, 0) << s;  // during step s + 1
}

TEST(Trainer, AdaptiveBatchStaysOnANoiselessGradient) {
  const auto batch = final_batch(0.0);
  EXPECT_EQ(batch.reported, 1);
  EXPECT_EQ(batch.reported, batch.applied);
}

TEST(Trainer, ProgressLinesAndBar) {
  auto run_with = [](ProgressMode mode, int64_t log_every) {
    model::ParamStore store;
    model::ParamStoreScope scope(store);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
    std::ostringstream out;
    auto opts = quiet(50);
    opts.progress = mode;
    opts.progress_stream = &out;
    opts.log_every = log_every;
    Trainer trainer([](int64_t) { return store_param("w", at::zeros({}, f64())).square() + 1.0; },
                    std::make_shared<optim::Adam>(0.1), gen, opts);
    trainer.run();
    return out.str();
  };
  const std::string lines = run_with(ProgressMode::kLines, 10);
  EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 6);  // 5 periodic + the final one
  EXPECT_NE(lines.find("step 10/50  ELBO"), std::string::npos) << lines;
  EXPECT_NE(lines.find("steps/s"), std::string::npos) << lines;
  EXPECT_NE(lines.find("ETA"), std::string::npos) << lines;
  EXPECT_EQ(lines.find('\r'), std::string::npos);
  const std::string bar = run_with(ProgressMode::kBar, 0);
  EXPECT_NE(bar.find('\r'), std::string::npos);
  EXPECT_EQ(std::count(bar.begin(), bar.end(), '\n'), 1) << bar;
  EXPECT_NE(bar.find("step 50/50"), std::string::npos) << bar;
  EXPECT_TRUE(run_with(ProgressMode::kSilent, 10).empty());
}

TEST(Trainer, RejectsBadOptions) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  auto loss = [](int64_t) { return store_param("w", at::zeros({}, f64())); };
  EXPECT_THROW(Trainer(loss, std::make_shared<optim::Adam>(0.1), gen, quiet(0)), std::invalid_argument);
  EXPECT_THROW(Trainer(loss, nullptr, gen, quiet(10)), std::invalid_argument);
  auto opts = quiet(10);
  opts.adaptive_batch.enabled = true;  // no callback
  EXPECT_THROW(Trainer(loss, std::make_shared<optim::Adam>(0.1), gen, opts), std::invalid_argument);
}
