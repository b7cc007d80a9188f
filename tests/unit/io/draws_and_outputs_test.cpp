#include "amortize/io/draws_csv.hpp"
#include "amortize/io/gnuplot.hpp"
#include "amortize/io/output_folder.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace amortize::io;
namespace fs = std::filesystem;

namespace {
// A fresh folder under the system temp folder, removed at the end of the test.
struct TempFolder {
  fs::path path;
  explicit TempFolder(const std::string& tag) {
    path = fs::temp_directory_path() / ("amortize_io_" + tag + "_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempFolder() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::vector<double> numbers_of(const std::string& line) {
  std::vector<double> out;
  std::istringstream in(line);
  for (std::string cell; std::getline(in, cell, ',');) out.push_back(std::stod(cell));
  return out;
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}
}  // namespace

TEST(CmdStanNames, ScalarVectorAndColumnMajorMatrix) {
  EXPECT_EQ(cmdstan_element_names("mu", {}), std::vector<std::string>{"mu"});
  EXPECT_EQ(cmdstan_element_names("beta", {3}), (std::vector<std::string>{"beta.1", "beta.2", "beta.3"}));
  EXPECT_EQ(cmdstan_element_names("L", {2, 3}),
            (std::vector<std::string>{"L.1.1", "L.2.1", "L.1.2", "L.2.2", "L.1.3", "L.2.3"}));
}

TEST(CmdStanNames, FlattenMatchesNames) {
  // Element (i, j) of draw n holds 100 n + 10 i + j, so each column identifies itself.
  auto d = at::empty({2, 2, 3}, at::kDouble);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 3; ++j) d[n][i][j] = 100.0 * n + 10.0 * (i + 1) + (j + 1);
  auto flat = cmdstan_flatten(d);
  auto names = cmdstan_element_names("L", {2, 3});
  ASSERT_EQ(flat.size(1), static_cast<int64_t>(names.size()));
  for (size_t c = 0; c < names.size(); ++c) {
    const int i = names[c][2] - '0', j = names[c][4] - '0';
    EXPECT_EQ(flat[1][static_cast<int64_t>(c)].item<double>(), 100.0 + 10.0 * i + j) << names[c];
  }
}

TEST(VariationalCsvTest, LayoutHeaderMeanRowAndDraws) {
  VariationalCsv csv;
  csv.add_setting("model", "toy");
  csv.add_setting("method", "variational");
  auto mu_draws = at::tensor({1.0, 2.0, 3.0, 4.0}, at::kDouble);
  auto beta_draws = at::arange(8, at::kDouble).reshape({4, 2});
  csv.add_variable("mu", at::scalar_tensor(2.5, at::kDouble), mu_draws);
  csv.add_variable("beta", at::tensor({3.0, 4.0}, at::kDouble), beta_draws);
  csv.set_log_densities(at::tensor({-1.0, -2.0, -3.0, -4.0}, at::kDouble),
                        at::tensor({-0.5, -0.25, -0.125, -1.5}, at::kDouble));
  csv.set_step_size(0.01);
  auto lines = lines_of(csv.str());
  ASSERT_EQ(lines.size(), 2u + 1u + 2u + 1u + 4u);
  EXPECT_EQ(lines[0], "# model = toy");
  EXPECT_EQ(lines[1], "# method = variational");
  EXPECT_EQ(lines[2], "lp__,log_p__,log_g__,mu,beta.1,beta.2");
  EXPECT_EQ(lines[3], "# Stepsize adaptation complete.");
  EXPECT_EQ(lines[4], "# eta = 0.01");
  EXPECT_EQ(numbers_of(lines[5]), (std::vector<double>{0, 0, 0, 2.5, 3, 4}));
  EXPECT_EQ(numbers_of(lines[6]), (std::vector<double>{0, -1, -0.5, 1, 0, 1}));
  EXPECT_EQ(numbers_of(lines[9]), (std::vector<double>{0, -4, -1.5, 4, 6, 7}));
  EXPECT_EQ(csv.num_draws(), 4);
}

TEST(VariationalCsvTest, RejectsMismatchedDrawCounts) {
  VariationalCsv csv;
  csv.add_variable("a", at::scalar_tensor(0.0, at::kDouble), at::zeros({5}, at::kDouble));
  EXPECT_THROW(csv.add_variable("b", at::scalar_tensor(0.0, at::kDouble), at::zeros({4}, at::kDouble)),
               std::invalid_argument);
  EXPECT_THROW(csv.add_variable("c", at::zeros({2}, at::kDouble), at::zeros({5, 3}, at::kDouble)),
               std::invalid_argument);
}

TEST(VariationalCsvTest, KeepsFloat32DrawsAndFullPrecision) {
  VariationalCsv csv;
  const double x = 0.123456789012;
  csv.add_variable("x", at::scalar_tensor(x, at::kDouble), at::full({1}, x, at::kDouble));
  csv.add_variable("y", at::scalar_tensor(0.5f, at::kFloat), at::full({1}, 0.5f, at::kFloat));
  auto lines = lines_of(csv.str());
  auto row = numbers_of(lines.back());
  EXPECT_NEAR(row[3], x, 1e-9);
  EXPECT_EQ(row[4], 0.5);
}

TEST(OutputFolder, CreatesProbesAndRefusesAFile) {
  TempFolder tmp("folder");
  EXPECT_TRUE(prepare_output_folder(tmp.path / "a" / "b"));
  EXPECT_TRUE(fs::is_empty(tmp.path / "a" / "b"));  // the probe is gone
  EXPECT_FALSE(prepare_output_folder(tmp.path / "a" / "b"));
  std::ofstream(tmp.path / "file") << "x";
  EXPECT_THROW(prepare_output_folder(tmp.path / "file"), DataError);
  EXPECT_THROW(prepare_output_folder(tmp.path / "file" / "sub"), DataError);
}

TEST(OutputFolder, AtomicWriteLeavesNoTemporary) {
  TempFolder tmp("atomic");
  write_file_atomically(tmp.path / "x.csv", "a,b\n");
  EXPECT_EQ(read(tmp.path / "x.csv"), "a,b\n");
  EXPECT_FALSE(fs::exists(temporary_path(tmp.path / "x.csv")));
  EXPECT_THROW(write_file_atomically(tmp.path / "missing" / "x.csv", "a"), DataError);
}

TEST(StagedOutputsTest, NothingAppearsUntilCommit) {
  TempFolder tmp("staged");
  {
    StagedOutputs out(tmp.path);
    out.add("a.csv", "1\n");
    out.add("b.json", "{}\n");
    EXPECT_FALSE(fs::exists(tmp.path / "a.csv"));
  }  // dropped without commit: the temporaries go too
  EXPECT_TRUE(fs::is_empty(tmp.path));
  StagedOutputs out(tmp.path);
  out.add("a.csv", "1\n");
  std::ofstream(out.staging_path("c.bin")) << "c";
  out.adopt("c.bin");
  EXPECT_THROW(out.adopt("never_written"), DataError);
  out.commit();
  EXPECT_EQ(read(tmp.path / "a.csv"), "1\n");
  EXPECT_EQ(read(tmp.path / "c.bin"), "c");
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(tmp.path)) ++files;
  EXPECT_EQ(files, 2u);
}

TEST(LossPlot, MovingAverageSkipsNonFinite) {
  auto avg = moving_average({1, 2, 3, std::nan(""), 5}, 2);
  EXPECT_DOUBLE_EQ(avg[0], 1.0);
  EXPECT_DOUBLE_EQ(avg[1], 1.5);
  EXPECT_DOUBLE_EQ(avg[2], 2.5);
  EXPECT_DOUBLE_EQ(avg[3], 3.0);
  EXPECT_DOUBLE_EQ(avg[4], 5.0);
}

TEST(LossPlot, DrawsAPngWithGnuplot) {
  if (std::system("command -v gnuplot > /dev/null 2>&1") != 0) GTEST_SKIP() << "gnuplot not installed";
  TempFolder tmp("plot");
  std::vector<double> steps, elbo;
  for (int i = 1; i <= 500; ++i) {
    steps.push_back(i);
    elbo.push_back(-100.0 - 1000.0 * std::exp(-i / 30.0) + std::sin(i * 1.3));
  }
  elbo[7] = std::nan("");
  const auto png = tmp.path / "it's loss.png";  // a quote in the name must survive the script
  EXPECT_EQ(plot_loss_png(steps, elbo, png, {}), "");
  std::string bytes = read(png);
  ASSERT_GT(bytes.size(), 1000u);
  EXPECT_EQ(bytes.substr(1, 3), "PNG");
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(tmp.path)) ++files;
  EXPECT_EQ(files, 1u);  // script, data and log files are gone
}

TEST(LossPlot, MissingGnuplotIsAReasonNotAnError) {
  TempFolder tmp("noplot");
  LossPlotOptions options;
  options.gnuplot = "amortize-no-such-gnuplot";
  const auto why = plot_loss_png({1, 2, 3}, {-3, -2, -1}, tmp.path / "loss.png", options);
  EXPECT_NE(why.find("amortize-no-such-gnuplot"), std::string::npos) << why;
  EXPECT_TRUE(fs::is_empty(tmp.path));
}
