// `amortize vae`: a tiny fit on synthetic IDX files writes every output the README names, its
// checkpoint encodes new images, bad settings or files exit with code 2 and one stderr line
// naming the problem, a resumed fit ends where the uninterrupted one does, and training that
// blows up exits with code 3.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "cli_harness.hpp"

namespace fs = std::filesystem;
using amortize::cli_test::CliResult;
using amortize::cli_test::read_text;

namespace {

// An IDX file of n uint8 images of 28 x 28: three stripe prototypes with 5 % of pixels flipped.
void write_images(const fs::path& path, int32_t n, uint32_t seed, int32_t keep_bytes = -1) {
  std::vector<unsigned char> bytes{0, 0, 8, 3};  // magic: uint8, 3 dimensions
  for (int32_t d : {n, 28, 28}) {
    for (int shift : {24, 16, 8, 0}) bytes.push_back(static_cast<unsigned char>((d >> shift) & 0xff));
  }
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> u(0, 1);
  for (int32_t i = 0; i < n; ++i) {
    const int kind = i % 3;
    for (int r = 0; r < 28; ++r) {
      for (int c = 0; c < 28; ++c) {
        bool on = kind == 0 ? r % 7 < 3 : kind == 1 ? c % 7 < 3 : (r + c) % 9 < 4;
        if (u(gen) < 0.05) on = !on;
        bytes.push_back(on ? 230 : 20);
      }
    }
  }
  if (keep_bytes >= 0) bytes.resize(static_cast<size_t>(keep_bytes));
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

class VaeCliTest : public ::testing::Test {
 protected:
  static fs::path dir;

  static void SetUpTestSuite() {
    dir = amortize::cli_test::fresh_scratch_folder("amortize_vae_cli_test");
    fs::create_directories(dir / "data");
    write_images(dir / "data" / "train-images-idx3-ubyte", 384, 1);
    write_images(dir / "data" / "t10k-images-idx3-ubyte", 48, 2);
    fs::create_directories(dir / "truncated");
    write_images(dir / "truncated" / "train-images-idx3-ubyte", 384, 1, 16 + 100 * 784 + 17);
    write_images(dir / "truncated" / "t10k-images-idx3-ubyte", 48, 2);
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  static CliResult run(const std::string& args) { return amortize::cli_test::run_cli(args, dir); }
  static std::string tiny_fit(const std::string& out, int loglik_images = 8) {
    return "vae fit --data " + (dir / "data").string() + " --epochs 2 --batch-size 64 --loglik-images " +
           std::to_string(loglik_images) + " --loglik-particles 20 --out " + (dir / out).string();
  }

  // Exit code 2 and one stderr line that contains `piece`.
  static ::testing::AssertionResult refused(const std::string& args, const std::string& piece) {
    const auto r = run(args);
    if (r.code == 2 && std::count(r.err.begin(), r.err.end(), '\n') == 1 && r.err.find(piece) != std::string::npos) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << args << ": exit " << r.code << ", stderr: " << r.err;
  }
};
fs::path VaeCliTest::dir;

TEST_F(VaeCliTest, FitWritesMetricsGridsAndACheckpointThatEncodes) {
  const auto r = run(tiny_fit("fit"));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto metrics = nlohmann::json::parse(read_text(dir / "fit" / "metrics.json"));
  for (const char* key : {"seconds_per_epoch", "train_elbo", "test_elbo", "test_loglik_is20"}) {
    ASSERT_TRUE(metrics.contains(key)) << key;
    EXPECT_TRUE(std::isfinite(metrics[key].get<double>())) << key;
  }
  EXPECT_LT(metrics["test_elbo"].get<double>(), 0.0);
  EXPECT_EQ(metrics["epochs"].size(), 2u);
  EXPECT_EQ(metrics["test_loglik_is20_images"].get<int64_t>(), 8);
  EXPECT_EQ(metrics["skipped_steps"].get<int64_t>(), 0);
  EXPECT_EQ(metrics["epochs"][0]["skipped_steps"].get<int64_t>(), 0);
  for (const char* file : {"reconstructions.png", "samples.png", "vae.pt", "vae.json"}) {
    EXPECT_TRUE(fs::exists(dir / "fit" / file)) << file;
  }
  EXPECT_EQ(read_text(dir / "fit" / "samples.png").substr(1, 3), "PNG");

  const auto enc = run("vae encode --from " + (dir / "fit").string() + " --data " +
                       (dir / "data" / "t10k-images-idx3-ubyte").string() + " --out " + (dir / "enc.csv").string());
  ASSERT_EQ(enc.code, 0) << enc.err;
  const std::string csv = read_text(dir / "enc.csv");
  EXPECT_EQ(csv.rfind("image,mean[1],", 0), 0u);
  EXPECT_NE(csv.find(",sd[50]\n"), std::string::npos);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + 48);
  EXPECT_FALSE(fs::exists(dir / "fit" / "vae.pt.tmp"));

  // A truncated checkpoint: exit 2, one line naming it.
  fs::create_directories(dir / "cut");
  fs::copy_file(dir / "fit" / "vae.json", dir / "cut" / "vae.json", fs::copy_options::overwrite_existing);
  fs::copy_file(dir / "fit" / "vae.pt", dir / "cut" / "vae.pt", fs::copy_options::overwrite_existing);
  fs::resize_file(dir / "cut" / "vae.pt", fs::file_size(dir / "cut" / "vae.pt") / 2);
  EXPECT_TRUE(refused("vae encode --from " + (dir / "cut").string() + " --data " +
                          (dir / "data" / "t10k-images-idx3-ubyte").string() + " --out " + (dir / "cut.csv").string(),
                      (dir / "cut" / "vae.pt").string()));
}

TEST_F(VaeCliTest, ImportanceWeightedAndTwoWorkerFitsRun) {
  const auto iwae = run(tiny_fit("iwae", 0) + " --objective iwae --particles 3");
  ASSERT_EQ(iwae.code, 0) << iwae.err;
  const auto m = nlohmann::json::parse(read_text(dir / "iwae" / "metrics.json"));
  EXPECT_EQ(m["objective"].get<std::string>(), "iwae");
  EXPECT_EQ(m["particles"].get<int64_t>(), 3);
  EXPECT_FALSE(m.contains("test_loglik_is20"));

  const auto two = run(tiny_fit("two") + " --threads 2 --hidden 32 --latent 8");
  ASSERT_EQ(two.code, 0) << two.err;
  const auto t = nlohmann::json::parse(read_text(dir / "two" / "metrics.json"));
  EXPECT_EQ(t["threads"]["workers"].get<int64_t>(), 2);
  EXPECT_TRUE(std::isfinite(t["test_elbo"].get<double>()));
  // Other sizes: recorded, and used by encode (8 means and 8 sds per image).
  EXPECT_EQ(t["model"]["hidden"].get<int64_t>(), 32);
  EXPECT_EQ(t["model"]["latent"].get<int64_t>(), 8);
  const auto enc = run("vae encode --from " + (dir / "two").string() + " --data " +
                       (dir / "data" / "t10k-images-idx3-ubyte").string());
  ASSERT_EQ(enc.code, 0) << enc.err;
  const std::string csv = read_text(dir / "two" / "encodings.csv");
  EXPECT_NE(csv.find(",sd[8]\n"), std::string::npos);
  EXPECT_EQ(csv.find("mean[9]"), std::string::npos);
  // A vae.json without the model's sizes: exit 2, one line naming it.
  fs::create_directories(dir / "sizeless");
  std::ofstream(dir / "sizeless" / "vae.json") << R"({"model": {"pixels": 784}, "weights": "vae.pt"})";
  EXPECT_TRUE(
      refused("vae encode --from " + (dir / "sizeless").string() + " --data x", "does not give the model's sizes"));
}

TEST_F(VaeCliTest, BadSettingsAndFilesExitTwoWithOneLine) {
  const std::string data = " --data " + (dir / "data").string() + " --out " + (dir / "bad").string();
  EXPECT_TRUE(refused("vae fit --threads 0" + data, "--threads: must be positive, got 0"));
  EXPECT_TRUE(refused("vae fit --particles -2" + data, "--particles: must be positive"));
  EXPECT_TRUE(refused("vae fit --lr abc" + data, "--lr"));
  EXPECT_TRUE(refused("vae fit --loglik-images -1" + data, "--loglik-images: must be zero or more"));
  EXPECT_TRUE(refused("vae fit --objective kl" + data, "--objective"));
  EXPECT_TRUE(refused("vae fit --epochs 0" + data, "--epochs"));
  EXPECT_TRUE(refused("vae fit --data " + (dir / "nope").string() + " --out " + (dir / "bad").string(), "nope"));
  EXPECT_TRUE(refused("vae fit --data " + (dir / "truncated").string() + " --out " + (dir / "bad").string(),
                      "train-images-idx3-ubyte"));
  EXPECT_TRUE(refused("vae encode --from " + (dir / "nope").string() + " --data x", "nope"));
}

TEST_F(VaeCliTest, AResumedFitEndsWhereTheUninterruptedOneDoes) {
  const std::string settings = " --data " + (dir / "data").string() +
                               " --batch-size 64 --threads 2 --objective iwae --particles 3 --loglik-images 8 "
                               "--loglik-particles 20";
  const auto straight = run("vae fit --epochs 3 --out " + (dir / "straight").string() + settings);
  ASSERT_EQ(straight.code, 0) << straight.err;
  const auto first = run("vae fit --epochs 1 --out " + (dir / "resumed").string() + settings);
  ASSERT_EQ(first.code, 0) << first.err;
  const auto rest =
      run("vae fit --resume " + (dir / "resumed").string() + " --epochs 3 --loglik-images 8 --loglik-particles 20");
  ASSERT_EQ(rest.code, 0) << rest.err;
  EXPECT_EQ(read_text(dir / "straight" / "vae.pt"), read_text(dir / "resumed" / "vae.pt"));
  const auto a = nlohmann::json::parse(read_text(dir / "straight" / "metrics.json"));
  const auto b = nlohmann::json::parse(read_text(dir / "resumed" / "metrics.json"));
  ASSERT_EQ(b["epochs"].size(), 3u);
  for (size_t e = 0; e < 3; ++e) {
    EXPECT_EQ(a["epochs"][e]["train_bound"], b["epochs"][e]["train_bound"]) << "epoch " << e + 1;
    EXPECT_EQ(a["epochs"][e]["test_elbo"], b["epochs"][e]["test_elbo"]) << "epoch " << e + 1;
  }
  EXPECT_EQ(a["test_loglik_is20"], b["test_loglik_is20"]);
  EXPECT_EQ(b["objective"], "iwae");
  EXPECT_EQ(b["threads"]["workers"], 2);

  const std::string resume = "vae fit --resume " + (dir / "resumed").string();
  EXPECT_TRUE(refused(resume + " --epochs 5 --lr 0.1", "--lr: a resumed fit keeps its run's setting"));
  EXPECT_TRUE(refused(resume + " --epochs 5 --latent 4", "--latent: a resumed fit keeps its run's setting"));
  EXPECT_TRUE(refused(resume + " --epochs 3", "has trained 3 already"));
  EXPECT_TRUE(refused(resume + " --epochs 5 --out " + (dir / "elsewhere").string(), "--out must be left out"));
  EXPECT_TRUE(refused("vae fit --resume " + (dir / "nope").string() + " --epochs 5", "no fit to resume"));
  EXPECT_TRUE(refused("vae fit --epochs 1", "--out is required"));
}

TEST_F(VaeCliTest, TrainingThatBlowsUpStopsWithExitThree) {
  // A learning rate of 1e30 sends the first update's parameters far out: every later step's
  // bound is non-finite (6 steps an epoch here), and the 20th in a row, in epoch 4, stops the
  // fit with one line after the epochs' progress lines, before metrics.json is written (the
  // checkpoints of epochs 1-3 are there: finite parameters, far out).
  const auto r = run("vae fit --data " + (dir / "data").string() + " --epochs 5 --batch-size 64 --lr 1e30 --out " +
                     (dir / "blown").string());
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 4) << r.err;
  EXPECT_NE(r.err.find("(5 non-finite steps skipped)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("stopped in epoch 4: 20 consecutive steps with a non-finite loss or gradient"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(dir / "blown" / "metrics.json"));
}

}  // namespace
