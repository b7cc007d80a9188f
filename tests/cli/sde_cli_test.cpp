// `amortize sde`: a tiny fit on the first rows of the predator-prey data writes every output and
// can be forecast from; bad settings exit with code 2, one stderr line naming the problem, and
// leave no output folder behind.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_harness.hpp"

namespace fs = std::filesystem;
using amortize::cli_test::CliResult;
using amortize::cli_test::read_text;

namespace {

class SdeCliTest : public ::testing::Test {
 protected:
  static fs::path dir;

  static void SetUpTestSuite() {
    dir = amortize::cli_test::fresh_scratch_folder("amortize_sde_cli_test");
    // The first 60 training rows and the first 20 validation rows.
    std::ifstream train("../shared/data/sde/predprey_train.csv"), valid("../shared/data/sde/predprey_valid.csv");
    std::ofstream t(dir / "train.csv"), v(dir / "valid.csv");
    std::string line;
    for (int i = 0; i < 61 && std::getline(train, line); ++i) t << line << "\n";
    for (int i = 0; i < 21 && std::getline(valid, line); ++i) v << line << "\n";
    const std::string common = "train = \"" + (dir / "train.csv").string() + "\"\nvalid = \"" + (dir / "valid.csv").string() +
                               "\"\nB = 16\nsteps = 30\nwarmup = 10\nencoder_hidden = \"8\"\ndrift_hidden = \"8,8\"\n"
                               "kernel_hidden = \"4\"\nvalid_paths = 8\naveraging = 0.9\nlr_decay = 0.5\n";
    std::ofstream(dir / "good.toml") << common;
    std::ofstream(dir / "unknown.toml") << common << "chunk = 3\n";
    std::ofstream(dir / "zero_b.toml") << "B = 0\n" << common.substr(common.find("steps"));
    std::ofstream(dir / "activation.toml") << common << "drift_activation = \"sigmoid\"\n";
    std::ofstream(dir / "missing_data.toml") << "train = \"" << (dir / "nope.csv").string() << "\"\nvalid = \"x.csv\"\n";
    std::ofstream(dir / "bad.csv") << "t,x1,x2\n0,1,2\n0.1,1,oops\n";
    std::ofstream(dir / "synthetic.toml") << "synthetic = \"moon\"\n";
    std::ofstream(dir / "cnn_skip.toml") << "synthetic = \"pendulum\"\nencoder = \"cnn\"\nM = 5\n";
    std::ofstream(dir / "prior_sd.toml") << common << "diffusion_prior_log_sd = 0\n";
    std::ofstream(dir / "method.toml") << common << "valid_method = \"rk4\"\n";
    std::ofstream(dir / "bad_data.toml") << "train = \"" << (dir / "bad.csv").string() << "\"\nvalid = \""
                                        << (dir / "valid.csv").string() << "\"\n";
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  static CliResult run(const std::string& args) { return amortize::cli_test::run_cli(args, dir); }

  static void expect_bad(const std::string& config, const std::vector<std::string>& pieces) {
    SCOPED_TRACE(config);
    const auto out = dir / ("out_" + config);
    const auto r = run("sde fit --config " + (dir / config).string() + " --out " + out.string());
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    for (const auto& p : pieces) EXPECT_NE(r.err.find(p), std::string::npos) << "missing '" << p << "' in: " << r.err;
    EXPECT_FALSE(fs::exists(out)) << out << " was created";
  }
};
fs::path SdeCliTest::dir;

}  // namespace

TEST_F(SdeCliTest, TinyFitWritesEveryOutputAndForecasts) {
  const auto out = dir / "run";
  const auto r = run("sde fit --config " + (dir / "good.toml").string() + " --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* f : {"metrics.json", "forecast.csv", "model.pt", "settings.json", "checkpoint.pt", "loss.csv"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  const auto m = nlohmann::json::parse(read_text(out / "metrics.json"));
  for (const char* k : {"valid_rmse", "nfe", "steps", "seconds_per_step", "peak_rss_mb"}) EXPECT_TRUE(m.contains(k)) << k;
  EXPECT_EQ(m["steps"].get<int64_t>(), 30);
  EXPECT_EQ(m["nfe"].get<int64_t>(), 30 * 10);  // R S per step
  EXPECT_TRUE(std::isfinite(m["valid_rmse"].get<double>()));
  EXPECT_GT(m["peak_rss_mb"].get<double>(), 10.0);
  EXPECT_EQ(nlohmann::json::parse(read_text(out / "settings.json"))["valid_method"], "heun");  // the default
  // forecast.csv: a header and one row per validation time.
  std::istringstream csv(read_text(out / "forecast.csv"));
  std::string header, line;
  std::getline(csv, header);
  EXPECT_EQ(header, "t,mean_x1,q05_x1,q95_x1,true_x1,mean_x2,q05_x2,q95_x2,true_x2");
  int rows = 0;
  while (std::getline(csv, line)) ++rows;
  EXPECT_EQ(rows, 20);

  const auto f = run("sde forecast --from " + out.string() + " --horizon 1 --paths 4");
  ASSERT_EQ(f.code, 0) << f.err;
  EXPECT_TRUE(fs::exists(out / "forecast_h1000ms.csv")) << f.out;
  EXPECT_NE(f.out.find("4 paths"), std::string::npos) << f.out;
}

TEST_F(SdeCliTest, BadSettingsExitTwoWithOneLine) {
  expect_bad("unknown.toml", {"unknown.toml", "chunk"});
  expect_bad("zero_b.toml", {"zero_b.toml", "B must be positive"});
  expect_bad("activation.toml", {"activation.toml", "sigmoid"});
  expect_bad("missing_data.toml", {"nope.csv"});
  expect_bad("bad_data.toml", {"bad.csv:3", "oops"});
  expect_bad("synthetic.toml", {"synthetic.toml:1", "moon"});
  expect_bad("cnn_skip.toml", {"CNN encoder", "skip"});
  expect_bad("prior_sd.toml", {"prior_sd.toml:", "diffusion_prior_log_sd must be positive"});
  expect_bad("method.toml", {"method.toml:", "valid_method", "rk4"});
  const auto r = run("sde forecast --from " + (dir / "no_such_run").string());
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("no_such_run"), std::string::npos) << r.err;
}

// `sde fit --resume DIR --steps N` continues from the checkpoint (parameters, Adam, generators,
// chunk order, iterate average, validation history and best model) and ends exactly where one
// uninterrupted N-step run ends.
TEST_F(SdeCliTest, ResumedRunEqualsAnUninterruptedOne) {
  std::ofstream(dir / "resume.toml") << read_text(dir / "good.toml")
                                     << "valid_every = 10\ncheckpoint_every = 20\nlr_decay_steps = 40\naveraging_start = 5\n";
  const auto config = (dir / "resume.toml").string();
  const auto whole = dir / "whole", parts = dir / "parts";
  ASSERT_EQ(run("sde fit --config " + config + " --steps 40 --out " + whole.string()).code, 0);
  const auto first = run("sde fit --config " + config + " --steps 20 --out " + parts.string());
  ASSERT_EQ(first.code, 0) << first.err;
  const auto second = run("sde fit --resume " + parts.string() + " --steps 40");
  ASSERT_EQ(second.code, 0) << second.err;
  EXPECT_EQ(read_text(parts / "loss.csv"), read_text(whole / "loss.csv"));
  EXPECT_EQ(read_text(parts / "forecast.csv"), read_text(whole / "forecast.csv"));
  const auto a = nlohmann::json::parse(read_text(whole / "metrics.json"));
  const auto b = nlohmann::json::parse(read_text(parts / "metrics.json"));
  for (const char* k : {"valid_rmse", "nfe", "steps", "model_step", "valid_history_step_rmse", "final_elbo_per_point"})
    EXPECT_EQ(a[k], b[k]) << k;
  EXPECT_EQ(b["steps"].get<int64_t>(), 40);
  // A folder that does not exist or holds no checkpoint is refused with one line.
  for (const auto& bad : {dir / "no_such_run", dir}) {
    const auto r = run("sde fit --resume " + bad.string());
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(bad.string()), std::string::npos) << r.err;
  }
}

// Experiment 3 in miniature: pendulum frames made in the run, a CNN encoder over M = 5 frames
// and a Bernoulli decoder; the ELBO rises and the frames PNG is written.
TEST_F(SdeCliTest, TinyPendulumFromPixelsLearnsAndDrawsFrames) {
  std::ofstream(dir / "pendulum.toml")
      << "synthetic = \"pendulum\"\nsynthetic_duration = 4\nsynthetic_train_until = 3\nsynthetic_frame_size = 16\n"
         "M = 5\nB = 16\nS = 4\nsteps = 60\nwarmup = 0\nlr = 3e-3\nlatent_dim = 2\nencoder = \"cnn\"\n"
         "encoder_channels = \"4,8\"\nencoder_hidden = \"16\"\nencoder_skip = 0\ndecoder = \"mlp\"\n"
         "decoder_hidden = \"32\"\nlikelihood = \"bernoulli\"\ndrift_hidden = \"8\"\nkernel_hidden = \"4\"\nvalid_paths = 4\n";
  const auto out = dir / "pendulum";
  const auto r = run("sde fit --config " + (dir / "pendulum.toml").string() + " --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* f : {"metrics.json", "forecast.csv", "forecast.png", "model.pt", "loss.csv"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  EXPECT_EQ(read_text(out / "forecast.png").substr(1, 3), "PNG");
  const auto m = nlohmann::json::parse(read_text(out / "metrics.json"));
  EXPECT_EQ(m["steps"].get<int64_t>(), 60);
  // 15 validation frames of 16 x 16 pixels, probabilities against {0, 1}.
  const double rmse = m["valid_rmse"].get<double>();
  EXPECT_TRUE(rmse > 0 && rmse < 1) << rmse;
  std::istringstream csv(read_text(out / "loss.csv"));
  std::string line;
  std::getline(csv, line);
  std::vector<double> elbo;
  while (std::getline(csv, line)) elbo.push_back(std::stod(line.substr(line.find(',') + 1)));
  ASSERT_EQ(elbo.size(), 60u);
  double first = 0, last = 0;
  for (int i = 0; i < 10; ++i) {
    first += elbo[static_cast<size_t>(i)] / 10;
    last += elbo[elbo.size() - 1 - static_cast<size_t>(i)] / 10;
  }
  EXPECT_GT(last, first + 20.0) << "ELBO per point, first 10 steps " << first << ", last 10 " << last;
  // Forecasting from the run draws frames too.
  const auto f = run("sde forecast --from " + out.string() + " --paths 4");
  ASSERT_EQ(f.code, 0) << f.err;
}

// Every experiment's settings file under examples/sde/ runs (a few steps each).
TEST_F(SdeCliTest, ExampleConfigsRun) {
  for (const auto& entry : fs::directory_iterator("examples/sde")) {
    if (entry.path().extension() != ".toml") continue;
    SCOPED_TRACE(entry.path().string());
    const auto out = dir / ("example_" + entry.path().stem().string());
    const auto r = run("sde fit --config " + fs::absolute(entry.path()).string() + " --steps 2 --out " + out.string());
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(fs::exists(out / "metrics.json"));
    EXPECT_TRUE(fs::exists(out / "forecast.png"));
  }
}
