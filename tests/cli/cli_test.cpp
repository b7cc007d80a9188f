// Runs the built `amortize` binary on bad input of every kind and on one small good run.
// Bad input: exit code 2, exactly one line on stderr naming the file and what is wrong, and
// nothing written into the output folder. Good run: every output, with draws.csv in CmdStan's
// layout.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_harness.hpp"

namespace fs = std::filesystem;
using amortize::cli_test::read_text;

namespace {
const char* kModel = "eight_schools-eight_schools_noncentered";
const char* kGoodJson = R"({"J": 8, "y": [28, 8, -3, 7, -1, 1, 18, 12], "sigma": [15, 10, 16, 11, 9, 11, 10, 18]})";

using Result = amortize::cli_test::CliResult;

void write(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::vector<std::string> cells_of(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  for (std::string cell; std::getline(in, cell, ',');) out.push_back(cell);
  return out;
}

void check_eight_schools_draws(const fs::path& out, int64_t draws);

class CliTest : public ::testing::Test {
 protected:
  static fs::path dir;

  static void SetUpTestSuite() {
    dir = amortize::cli_test::fresh_scratch_folder("amortize_cli_test");
    fs::create_directories(dir / "a_folder");
    write(dir / "good.json", kGoodJson);
    write(dir / "malformed.json", "{\"J\": 8,\n \"y\": [28, 8,, -3]}\n");
    write(dir / "malformed.csv", "J,y\n8,1\n8,oops\n");
    write(dir / "missing.json", R"({"J": 8, "y": [28, 8, -3, 7, -1, 1, 18, 12]})");
    write(dir / "short.json", R"({"J": 8, "y": [28, 8, -3, 7, -1, 1, 18, 12], "sigma": [15, 10, 16]})");
    write(dir / "string.json", R"({"J": 8, "y": "twenty", "sigma": [15, 10, 16, 11, 9, 11, 10, 18]})");
    write(dir / "nan.json",
          R"({"J": 8, "y": [28, 8, -3, 7, null, 1, 18, 12], "sigma": [15, 10, 16, 11, 9, 11, 10, 18]})");
    write(dir / "inf.json",
          R"({"J": 8, "y": [28, 8, -3, 7, -1, 1, 18, 12], "sigma": [15, 10, "Inf", 11, 9, 11, 10, 18]})");
    write(dir / "a_file", "not a folder");
    write(dir / "syntax.toml", "model = \"x\"\nsteps = = 4\n");
    write(dir / "unknown.toml", "model = \"x\"\n\nstepz = 4\n");
    write(dir / "type.toml", "steps = \"many\"\n");
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  static Result run(const std::string& args) { return amortize::cli_test::run_cli(args, dir); }

  // `amortize fit` with the good model and data unless overridden; output into out/<tag>.
  static std::string fit_args(const std::string& tag, const std::string& extra, const std::string& data = "good.json") {
    return "fit --model " + std::string(kModel) + " --data " + (dir / data).string() + " --out " +
           (dir / "out" / tag).string() + " " + extra;
  }

  // The bad-input contract: exit 2, one stderr line holding every expected piece, no output.
  static ::testing::AssertionResult bad_input(const Result& r, const std::vector<std::string>& expected,
                                              const fs::path& out) {
    std::string problems;
    if (r.code != 2) problems += "exit code " + std::to_string(r.code) + " (expected 2); ";
    if (r.err.empty()) return ::testing::AssertionFailure() << problems << "nothing on stderr";
    if (r.err.back() != '\n') problems += "stderr does not end in a newline; ";
    if (std::count(r.err.begin(), r.err.end(), '\n') != 1) problems += "stderr is not exactly one line; ";
    for (const auto& piece : expected) {
      if (r.err.find(piece) == std::string::npos) problems += "missing '" + piece + "'; ";
    }
    std::error_code ec;
    if (!(!fs::exists(out, ec) || (fs::is_directory(out, ec) && fs::is_empty(out, ec)))) {
      problems += out.string() + " was written to; ";
    }
    if (problems.empty()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << problems << "stderr: " << r.err;
  }

  static ::testing::AssertionResult bad_fit(const std::string& tag, const std::string& extra,
                                            const std::vector<std::string>& expected,
                                            const std::string& data = "good.json") {
    return bad_input(run(fit_args(tag, extra, data)), expected, dir / "out" / tag) << " [" << tag << "]";
  }
};
fs::path CliTest::dir;
}  // namespace

TEST_F(CliTest, ModelsListsEveryModelWithItsDataFields) {
  auto r = run("models");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find(kModel), std::string::npos);
  EXPECT_NE(r.out.find("data: J y sigma"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sblrc-blr"), std::string::npos);
  EXPECT_NE(r.out.find("data: N D X y"), std::string::npos) << r.out;
}

TEST_F(CliTest, MissingOrUnreadableDataFile) {
  EXPECT_TRUE(bad_fit("nonexistent", "", {"no_such.json", "no such file"}, "no_such.json"));
  EXPECT_TRUE(bad_fit("folder", "", {"a_folder", "is a folder"}, "a_folder"));
}

TEST_F(CliTest, MalformedJsonAndCsvNameLineAndColumn) {
  EXPECT_TRUE(bad_fit("json", "", {"malformed.json", "malformed JSON at line 2, column"}, "malformed.json"));
  EXPECT_TRUE(bad_fit("csv", "", {"malformed.csv", "line 3, column 2", "'oops'"}, "malformed.csv"));
}

TEST_F(CliTest, MissingMisSizedAndMistypedFieldsAreNamed) {
  EXPECT_TRUE(bad_fit("missing", "", {"missing.json", "field 'sigma' is missing"}, "missing.json"));
  EXPECT_TRUE(bad_fit("short", "", {"short.json", "field 'sigma' has length 3, expected 8"}, "short.json"));
  EXPECT_TRUE(bad_fit("string", "", {"string.json", "field 'y'", "string"}, "string.json"));
}

TEST_F(CliTest, NonFiniteDataIsNamed) {
  EXPECT_TRUE(bad_fit("nan", "", {"nan.json", "field 'y'", "non-finite", "element 5"}, "nan.json"));
  EXPECT_TRUE(bad_fit("inf", "", {"inf.json", "field 'sigma'", "non-finite", "element 3"}, "inf.json"));
}

TEST_F(CliTest, UnknownModelGuideAndOption) {
  EXPECT_TRUE(bad_input(run("fit --model no_such_model --data " + (dir / "good.json").string() + " --out " +
                       (dir / "out" / "model").string()),
                   {"unknown model 'no_such_model'", kModel}, dir / "out" / "model"));
  EXPECT_TRUE(bad_fit("guide", "--guide flowz", {"--guide 'flowz'", "mvn"}));
  EXPECT_TRUE(bad_fit("option", "--bogus 3", {"--bogus"}));
  EXPECT_TRUE(bad_fit("notanumber", "--steps many", {"--steps", "many"}));
}

TEST_F(CliTest, NonPositiveStepsLearningRateAndDraws) {
  EXPECT_TRUE(bad_fit("steps0", "--steps 0", {"--steps must be positive, got 0"}));
  EXPECT_TRUE(bad_fit("steps-", "--steps -5", {"--steps must be positive, got -5"}));
  EXPECT_TRUE(bad_fit("lr0", "--lr 0", {"--lr must be a positive number, got 0"}));
  EXPECT_TRUE(bad_fit("lr-", "--lr -0.5", {"--lr must be a positive number, got -0.5"}));
  EXPECT_TRUE(bad_fit("draws", "--draws 0", {"--draws must be positive"}));
}

TEST_F(CliTest, UnwritableOutputFolder) {
  // Root may write anywhere, so the unwritable folder is one under a regular file.
  const auto under_file = dir / "a_file" / "out";
  EXPECT_TRUE(bad_input(run("fit --model " + std::string(kModel) + " --data " + (dir / "good.json").string() + " --out " +
                       under_file.string()),
                   {under_file.string(), "cannot create output folder"}, under_file));
  EXPECT_TRUE(bad_input(run("fit --model " + std::string(kModel) + " --data " + (dir / "good.json").string() + " --out " +
                       (dir / "a_file").string()),
                   {"a_file", "is not a folder"}, dir / "no_output_here"));
  EXPECT_EQ(read_text(dir / "a_file"), "not a folder");
}

TEST_F(CliTest, MissingRequiredSettingIsNamed) {
  EXPECT_TRUE(bad_input(run("fit --data " + (dir / "good.json").string() + " --out " + (dir / "out" / "req").string()),
                   {"--model is required"}, dir / "out" / "req"));
}

TEST_F(CliTest, ResumeFromMissingFolderOrFolderWithoutCheckpoint) {
  EXPECT_TRUE(bad_input(run("fit --resume " + (dir / "no_run").string()), {"no_run", "no such run folder"}, dir / "no_run"));
  fs::create_directories(dir / "empty_run");
  EXPECT_TRUE(bad_input(run("fit --resume " + (dir / "empty_run").string()), {"empty_run", "no checkpoint"},
                   dir / "empty_run"));
}

TEST_F(CliTest, BadConfigFilesNameFileLineAndKey) {
  EXPECT_TRUE(bad_fit("cfg_missing", "--config " + (dir / "none.toml").string(), {"none.toml", "no such config file"}));
  EXPECT_TRUE(bad_fit("cfg_syntax", "--config " + (dir / "syntax.toml").string(), {"syntax.toml:2:", "TOML syntax error"}));
  EXPECT_TRUE(bad_fit("cfg_unknown", "--config " + (dir / "unknown.toml").string(),
                 {"unknown.toml:3:1", "unknown key 'stepz'"}));
  EXPECT_TRUE(bad_fit("cfg_type", "--config " + (dir / "type.toml").string(),
                 {"type.toml:1:", "'steps' must be an integer, got a string"}));
}

TEST_F(CliTest, SmallRunWritesEveryOutputFromConfigAndFlags) {
  const auto out = dir / "out" / "good";
  // The config gives everything; the command line overrides the number of draws.
  write(dir / "run.toml", "model = \"" + std::string(kModel) + "\"\ndata = \"" + (dir / "good.json").string() +
                              "\"\nout = \"" + out.string() + "\"\nsteps = 200\ndraws = 7\nlr = 0.01\nseed = 3\n");
  const int64_t draws = 100;
  auto r = run("fit --config " + (dir / "run.toml").string() + " --draws " + std::to_string(draws));
  ASSERT_EQ(r.code, 0) << r.err;

  std::map<std::string, bool> files;
  for (const auto& e : fs::directory_iterator(out)) files[e.path().filename().string()] = true;
  for (const char* f : {"summary.csv", "draws.csv", "loss.csv", "run.json"}) EXPECT_TRUE(files[f]) << f;
  const bool have_gnuplot = std::system("command -v gnuplot > /dev/null 2>&1") == 0;
  if (have_gnuplot) {
    EXPECT_TRUE(files["loss.png"]);
    EXPECT_EQ(read_text(out / "loss.png").substr(1, 3), "PNG");
  }
  for (const auto& [name, present] : files) EXPECT_NE(name.front(), '.') << "temporary file left: " << name;

  const auto run_json = nlohmann::json::parse(read_text(out / "run.json"));
  EXPECT_EQ(run_json.at("steps").get<int64_t>(), 200);
  EXPECT_EQ(run_json.at("draws").get<int64_t>(), draws);
  EXPECT_EQ(run_json.at("seed").get<int64_t>(), 3);

  EXPECT_EQ(lines_of(read_text(out / "loss.csv")).size(), 201u);
  const auto summary = lines_of(read_text(out / "summary.csv"));
  ASSERT_EQ(summary.size(), 1u + 2u + 8u + 8u);
  EXPECT_EQ(summary[0], "parameter,mean,sd,q05,q50,q95");
  EXPECT_EQ(cells_of(summary[3])[0], "theta_trans[1]");

  check_eight_schools_draws(out, draws);
}

namespace {
// Checks out/draws.csv of an eight-schools run against out/run.json: CmdStan's layout with the
// right header and row count, rows that are joint draws, and log_p__ - log_g__ averaging to
// the ELBO.
void check_eight_schools_draws(const fs::path& out, int64_t draws) {
  const auto run_json = nlohmann::json::parse(read_text(out / "run.json"));
  // draws.csv: comments, CmdStan header, the eta pair, the centre row, then one row per draw.
  std::vector<std::string> header;
  std::vector<std::vector<double>> rows;
  bool eta_seen = false;
  for (const auto& line : lines_of(read_text(out / "draws.csv"))) {
    if (line.rfind('#', 0) == 0) {
      if (line.rfind("# eta = ", 0) == 0) eta_seen = true;
      continue;
    }
    if (header.empty()) {
      header = cells_of(line);
      continue;
    }
    std::vector<double> row;
    for (const auto& c : cells_of(line)) row.push_back(std::stod(c));
    ASSERT_EQ(row.size(), header.size()) << line;
    rows.push_back(row);
  }
  EXPECT_TRUE(eta_seen);
  std::vector<std::string> want = {"lp__", "log_p__", "log_g__", "mu", "tau"};
  for (int j = 1; j <= 8; ++j) want.push_back("theta_trans." + std::to_string(j));
  for (int j = 1; j <= 8; ++j) want.push_back("theta." + std::to_string(j));
  EXPECT_EQ(header, want);
  ASSERT_EQ(rows.size(), static_cast<size_t>(draws + 1));
  EXPECT_EQ(rows[0][0], 0.0);
  EXPECT_EQ(rows[0][1], 0.0);
  EXPECT_EQ(rows[0][2], 0.0);

  // Each row is one joint draw: theta = mu + tau * theta_trans holds within the row, and the
  // mean of log p - log q estimates the ELBO.
  double sum = 0, sum_sq = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    for (int j = 0; j < 8; ++j) {
      EXPECT_NEAR(row[13 + j], row[3] + row[4] * row[5 + j], 1e-6 * (1 + std::abs(row[13 + j]))) << "row " << i;
    }
    EXPECT_GT(row[4], 0.0);
    if (i == 0) continue;
    EXPECT_EQ(row[0], 0.0);
    ASSERT_TRUE(std::isfinite(row[1]) && std::isfinite(row[2]));
    sum += row[1] - row[2];
    sum_sq += (row[1] - row[2]) * (row[1] - row[2]);
  }
  const double n = static_cast<double>(draws), mean = sum / n, var = sum_sq / n - mean * mean;
  const double final_elbo = run_json.at("final_elbo").get<double>();
  const double particles = static_cast<double>(run_json.at("particles").get<int64_t>());
  // Both are Monte-Carlo estimates of the same ELBO: 4 standard errors of their difference.
  EXPECT_NEAR(mean, final_elbo, 4.0 * std::sqrt(var / n + var / particles) + 1e-9)
      << "log_p__ - log_g__ does not average to the ELBO";
  EXPECT_GT(var, 0.0);
}
}  // namespace

TEST_F(CliTest, FlowGuideRunsAndItsLogDensitiesMatchTheElbo) {
  const auto out = dir / "out" / "flow";
  auto r = run(fit_args("flow", "--guide flow --steps 100 --draws 200"));
  ASSERT_EQ(r.code, 0) << r.err;
  check_eight_schools_draws(out, 200);
}

namespace {
std::string without_comments(const std::string& csv) {
  std::string out;
  for (const auto& line : lines_of(csv)) {
    if (!line.empty() && line[0] != '#') out += line + "\n";
  }
  return out;
}
}  // namespace

TEST_F(CliTest, ResumedRunEqualsOneRunBitForBit) {
  const auto whole = dir / "out" / "whole", split = dir / "out" / "split";
  auto a = run(fit_args("whole", "--steps 200 --draws 50"));
  ASSERT_EQ(a.code, 0) << a.err;
  auto b = run(fit_args("split", "--steps 100 --draws 50"));
  ASSERT_EQ(b.code, 0) << b.err;
  auto c = run("fit --resume " + split.string() + " --steps 200");
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_EQ(read_text(whole / "loss.csv"), read_text(split / "loss.csv"));
  EXPECT_EQ(read_text(whole / "summary.csv"), read_text(split / "summary.csv"));
  EXPECT_EQ(without_comments(read_text(whole / "draws.csv")), without_comments(read_text(split / "draws.csv")));
  EXPECT_EQ(lines_of(read_text(split / "loss.csv")).size(), 201u);
  const auto run_json = nlohmann::json::parse(read_text(split / "run.json"));
  EXPECT_EQ(run_json.at("steps_done"), 200);
  EXPECT_EQ(run_json.at("resumed"), true);
}

TEST_F(CliTest, CorruptCheckpointIsBadInputAndChangesNothing) {
  const auto out = dir / "out" / "corrupt";
  auto r = run(fit_args("corrupt", "--steps 20 --draws 10"));
  ASSERT_EQ(r.code, 0) << r.err;
  write(out / "checkpoint.pt", "this is not a checkpoint");
  const std::string loss_before = read_text(out / "loss.csv"), run_before = read_text(out / "run.json");
  auto resumed = run("fit --resume " + out.string() + " --steps 40");
  EXPECT_EQ(resumed.code, 2) << resumed.err;
  EXPECT_EQ(std::count(resumed.err.begin(), resumed.err.end(), '\n'), 1) << resumed.err;
  EXPECT_NE(resumed.err.find("checkpoint.pt"), std::string::npos) << resumed.err;
  EXPECT_EQ(read_text(out / "loss.csv"), loss_before);
  EXPECT_EQ(read_text(out / "run.json"), run_before);
}

TEST_F(CliTest, NonFiniteTrainingStopsWithExitCode3) {
  // An absurd learning rate sends the parameters to infinity within a few steps.
  auto r = run(fit_args("nan", "--steps 300 --draws 10 --guide normal --init median --lr 1e200"));
  EXPECT_EQ(r.code, 3) << r.err;
  const auto err_lines = lines_of(r.err);
  ASSERT_FALSE(err_lines.empty());
  EXPECT_NE(err_lines.back().find("consecutive steps with a non-finite"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "out" / "nan" / "draws.csv"));
}
