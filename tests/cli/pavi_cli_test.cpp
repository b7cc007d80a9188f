// `amortize pavi fit`: a tiny GRE run writes metrics.json (with the promised keys), summary.csv
// and elbo.png, and so do the non-conjugate, mixture and three-level models, the baselines and
// the set transformer; bad settings (unknown model, encoding or encoder, G <= 0, a batch larger
// than G, an averaging fraction outside [0, 1]) exit with code 2, print exactly one stderr line naming the problem and leave no output folder.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#ifndef AMORTIZE_CLI_PATH
#error "AMORTIZE_CLI_PATH must name the amortize binary"
#endif

namespace fs = std::filesystem;

namespace {

struct PaviRun {
  int code = -1;
  std::string out, err;
};

std::string contents(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class PaviCliTest : public ::testing::Test {
 protected:
  static fs::path dir;
  static void SetUpTestSuite() {
    dir = fs::temp_directory_path() / ("amortize_pavi_cli_test_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  static PaviRun run(const std::string& args) {
    static int counter = 0;
    const auto out = dir / ("stdout_" + std::to_string(counter));
    const auto err = dir / ("stderr_" + std::to_string(counter++));
    const std::string cmd =
        std::string(AMORTIZE_CLI_PATH) + " pavi fit " + args + " > " + out.string() + " 2> " + err.string();
    const int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, contents(out), contents(err)};
  }
  // Exit code 2, one stderr line holding `piece`, no output folder.
  static ::testing::AssertionResult refused(const std::string& args, const std::string& piece) {
    const auto out = dir / "refused";
    const auto r = run(args + " --out " + out.string());
    if (r.code != 2) return ::testing::AssertionFailure() << "exit code " << r.code << ", stderr: " << r.err;
    if (r.err.empty() || r.err.find('\n') != r.err.size() - 1) {
      return ::testing::AssertionFailure() << "stderr is not one line: [" << r.err << "]";
    }
    if (r.err.find(piece) == std::string::npos)
      return ::testing::AssertionFailure() << "stderr lacks '" << piece << "': " << r.err;
    if (fs::exists(out)) return ::testing::AssertionFailure() << "an output folder was created";
    return ::testing::AssertionSuccess();
  }
};
fs::path PaviCliTest::dir;

}  // namespace

TEST_F(PaviCliTest, TinyRunWritesMetricsSummaryAndPlot) {
  const auto out = dir / "tiny";
  for (const std::string encoding : {"free", "set"}) {
    SCOPED_TRACE(encoding);
    fs::remove_all(out);
    const auto r = run("--model gre --groups 30 --obs-per-group 4 --batch 10 --steps 60 --encoding " + encoding +
                       " --seed 3 --out " + out.string());
    ASSERT_EQ(r.code, 0) << r.err;
    const auto metrics = nlohmann::json::parse(contents(out / "metrics.json"));
    for (const char* key : {"elbo", "seconds", "steps", "peak_rss_mb", "n_parameters", "latent_dims", "exact_errors"}) {
      EXPECT_TRUE(metrics.contains(key)) << key;
    }
    EXPECT_EQ(metrics["steps"].get<int64_t>(), 60);
    EXPECT_EQ(metrics["latent_dims"].get<int64_t>(), 2 + 30 * 2);
    EXPECT_EQ(metrics["method"].get<std::string>(), encoding == "free" ? "pavi-f" : "pavi-e");
    EXPECT_GT(metrics["n_parameters"].get<int64_t>(), 0);
    EXPECT_TRUE(std::isfinite(metrics["elbo"].get<double>()));
    // The final guide's ELBO over all 30 groups, below the log evidence (within its noise).
    EXPECT_EQ(metrics["elbo_source"].get<std::string>(), "final guide, whole population");
    EXPECT_LT(metrics["elbo"].get<double>(),
              metrics["log_evidence"].get<double>() + 4 * metrics["elbo_standard_error"].get<double>());
    EXPECT_TRUE(metrics.contains("elbo_training_tail"));
    const std::string summary = contents(out / "summary.csv");
    EXPECT_EQ(summary.rfind("parameter,mean,sd\nmu[1],", 0), 0u) << summary;
    EXPECT_NE(summary.find("\nmu[2],"), std::string::npos) << summary;
    EXPECT_TRUE(fs::exists(out / "elbo.png") || r.err.find("no elbo.png") != std::string::npos) << r.err;
  }
}

TEST_F(PaviCliTest, NonConjugateModelRunsAndReportsItsGlobalSite) {
  for (const std::string method : {"pavi", "mean-field"}) {
    SCOPED_TRACE(method);
    const auto out = dir / ("gamma_laplace_" + method);
    const auto r = run("--model gamma-laplace --groups 20 --obs-per-group 3 --batch 10 --steps 40 --method " + method +
                       " --out " + out.string());
    ASSERT_EQ(r.code, 0) << r.err;
    const auto metrics = nlohmann::json::parse(contents(out / "metrics.json"));
    EXPECT_EQ(metrics["latent_dims"].get<int64_t>(), 2 + 20 * 2);
    EXPECT_EQ(metrics["true_a"].size(), 2u);
    EXPECT_EQ(contents(out / "summary.csv").rfind("parameter,mean,sd\na[1],", 0), 0u);
    // Both methods report their final guide's ELBO over all 20 groups.
    EXPECT_EQ(metrics["elbo_source"].get<std::string>(), "final guide, whole population");
    EXPECT_TRUE(std::isfinite(metrics["elbo"].get<double>()));
  }
}

TEST_F(PaviCliTest, MixtureModelRunsByName) {
  const auto out = dir / "mixture";
  const auto r =
      run("--model mixture --groups 12 --obs-per-group 5 --batch 4 --steps 30 --encoding set --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.err;
  const auto metrics = nlohmann::json::parse(contents(out / "metrics.json"));
  // means 3 x 2; per group weights (2 unconstrained) and component means 3 x 2.
  EXPECT_EQ(metrics["latent_dims"].get<int64_t>(), 6 + 12 * (2 + 6));
  EXPECT_EQ(metrics["true_means"].size(), 6u);
  const std::string summary = contents(out / "summary.csv");
  EXPECT_EQ(summary.rfind("parameter,mean,sd\nmeans[1],", 0), 0u) << summary;
  EXPECT_NE(summary.find("\nmeans[6],"), std::string::npos) << summary;
}

TEST_F(PaviCliTest, ThreeLevelModelRunsByNameWithEveryGuide) {
  for (const std::string flags : {"--encoding set --encoder set-transformer", "--method flow", "--method mean-field"}) {
    SCOPED_TRACE(flags);
    const auto out = dir / "three_level";
    fs::remove_all(out);
    const auto r = run("--model three-level --groups 8 --sessions 3 --obs-per-group 4 --batch 4 --steps 30 " + flags +
                       " --out " + out.string());
    ASSERT_EQ(r.code, 0) << r.err;
    const auto metrics = nlohmann::json::parse(contents(out / "metrics.json"));
    EXPECT_EQ(metrics["latent_dims"].get<int64_t>(), 2 + 8 * 2 + 8 * 3 * 2);
    EXPECT_TRUE(std::isfinite(metrics["elbo"].get<double>()));
    EXPECT_EQ(contents(out / "summary.csv").rfind("parameter,mean,sd\nmu[1],", 0), 0u);
  }
}

TEST_F(PaviCliTest, FlowBaselineAndSetTransformerOnGre) {
  const auto out = dir / "gre_variants";
  for (const std::string flags : {"--method flow", "--encoding set --encoder set-transformer"}) {
    SCOPED_TRACE(flags);
    fs::remove_all(out);
    const auto r =
        run("--model gre --groups 30 --obs-per-group 4 --batch 10 --steps 30 " + flags + " --out " + out.string());
    ASSERT_EQ(r.code, 0) << r.err;
    const auto metrics = nlohmann::json::parse(contents(out / "metrics.json"));
    const bool flow = flags == "--method flow";
    EXPECT_EQ(metrics["method"].get<std::string>(), flow ? "flow" : "pavi-e");
    if (!flow) {
      EXPECT_EQ(metrics["encoder"].get<std::string>(), "set-transformer");
    }
  }
}

TEST_F(PaviCliTest, BadSettingsExitWithCode2AndOneLine) {
  EXPECT_TRUE(
      refused("--model gmm --groups 10", "unknown model 'gmm' (known: gre, gamma-laplace, mixture, three-level)"));
  EXPECT_TRUE(refused("--groups 10 --encoding set --encoder transformer", "--encoder"));
  EXPECT_TRUE(refused("--model mixture --groups 10 --components 1", "--components"));
  EXPECT_TRUE(refused("--groups 0", "--groups"));
  EXPECT_TRUE(refused("--groups -5", "--groups"));
  EXPECT_TRUE(refused("--groups 10 --batch 11", "--batch 11 exceeds --groups 10"));
  EXPECT_TRUE(refused("--groups 10 --encoding dense", "--encoding"));
  EXPECT_TRUE(refused("--groups 10 --average-from 1.5", "--average-from must be in [0, 1]"));
  EXPECT_TRUE(refused("--groups 10 --local-average-from -0.1", "--local-average-from must be in [0, 1]"));
}
