// The experiment layer: CSV time series, the training objective, iterate averaging and the
// validation forecast, on a tiny version of the predator-prey settings.
#include "amortize/sde/experiment.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

namespace amortize::sde {
namespace {

namespace fs = std::filesystem;

fs::path write_temp(const std::string& name, const std::string& text) {
  const auto p = fs::temp_directory_path() / ("amortize_sde_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(p) << text;
  return p;
}

TEST(TimeSeriesCsv, ReadsColumnsAndNamesTheBadLine) {
  const auto good = write_temp("good.csv", "t,x1,x2\n0,1,2\n0.5,3,4\r\n1,5,6\n");
  const auto ts = read_time_series_csv(good.string(), at::TensorOptions().dtype(at::kDouble));
  ASSERT_EQ(ts.x.sizes(), (std::vector<int64_t>{3, 2}));
  EXPECT_DOUBLE_EQ(ts.t[1].item<double>(), 0.5);
  EXPECT_DOUBLE_EQ(ts.x[2][1].item<double>(), 6.0);
  const auto bad = write_temp("bad.csv", "t,x1\n0,1\n1,zz\n");
  try {
    read_time_series_csv(bad.string(), {});
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("bad.csv:3"), std::string::npos) << e.what();
  }
  const auto back = write_temp("back.csv", "t,x1\n0,1\n0,2\n");
  EXPECT_THROW(read_time_series_csv(back.string(), {}), std::invalid_argument);
  const auto ragged = write_temp("ragged.csv", "t,x1,x2\n0,1,2\n1,2\n");
  EXPECT_THROW(read_time_series_csv(ragged.string(), {}), std::invalid_argument);
  for (const auto& p : {good, bad, back, ragged}) fs::remove(p);
}

ArctaExperimentSettings tiny(double averaging) {
  auto s = predprey_settings();
  s.chunk_size = 16;
  s.model.encoder_hidden = {8};
  s.model.drift_hidden = {8, 8};
  s.model.kernel.warp_hidden = {4};
  s.averaging = averaging;
  s.dtype = at::kDouble;
  return s;
}

std::pair<TimeSeries, TimeSeries> tiny_data() {
  const auto o = at::TensorOptions().dtype(at::kDouble);
  const auto t = at::arange(60, o) * 0.1;
  const auto x = at::stack({t.cos(), t.sin()}, 1);
  return {{t.narrow(0, 0, 40), x.narrow(0, 0, 40)}, {t.narrow(0, 40, 20), x.narrow(0, 40, 20)}};
}

TEST(ArctaExperiment, LossCountsDriftEvaluationsAndAveragingIsAnEma) {
  auto [train, valid] = tiny_data();
  ArctaExperiment exp(tiny(0.5), train, valid);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(2);
  const auto loss = exp.loss(0, gen);
  EXPECT_TRUE(std::isfinite(loss.item<double>()));
  EXPECT_EQ(exp.nfe().count(), 10);  // R S
  const auto params = exp.parameters();
  const auto name = params.begin()->first;
  const auto start = params.at(name).detach().clone();
  {
    at::NoGradGuard ng;
    params.at(name).add_(1.0);
  }
  exp.update_average();  // average = 0.5 start + 0.5 (start + 1)
  EXPECT_TRUE(at::allclose(exp.average().at(name), start + 0.5));
  exp.use_average();
  EXPECT_TRUE(at::allclose(exp.parameters().at(name), start + 0.5));
  ArctaExperiment plain(tiny(0.0), train, valid);
  EXPECT_TRUE(plain.average().empty());
}

TEST(ArctaExperiment, AveragingIsUniformFromItsStartThenAnEma) {
  auto [train, valid] = tiny_data();
  auto s = tiny(0.6);
  s.averaging_start = 2;
  ArctaExperiment exp(s, train, valid);
  const auto params = exp.parameters();
  const auto name = params.begin()->first;
  const Tensor p = params.at(name);
  const Tensor start = p.detach().clone();
  const auto step_to = [&](double offset) {
    at::NoGradGuard ng;
    p.copy_(start + offset);
    exp.update_average();
  };
  step_to(1);  // before the start: the average is the iterate
  step_to(2);
  EXPECT_TRUE(at::allclose(exp.average().at(name), start + 2));
  step_to(4);  // n = 1: uniform over {2, 4}
  EXPECT_TRUE(at::allclose(exp.average().at(name), start + 3));
  step_to(6);  // n = 2: min(0.6, 2/3) = 0.6 keeps 0.6 of the old average
  EXPECT_TRUE(at::allclose(exp.average().at(name), start + 0.6 * 3 + 0.4 * 6));
}

TEST(ArctaExperiment, StateRestoresTheAverageTheChunkOrderAndTheNfe) {
  auto [train, valid] = tiny_data();
  auto s = tiny(0.5);
  ArctaExperiment a(s, train, valid), b(s, train, valid);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  for (int64_t i = 0; i < 3; ++i) {
    a.loss(i, gen);
    a.update_average();
  }
  b.set_state(a.state());
  EXPECT_EQ(b.nfe().count(), a.nfe().count());
  for (const auto& [name, t] : a.average()) EXPECT_TRUE(at::equal(b.average().at(name), t)) << name;
  // The same generator state and chunk order give the same losses from here on.
  auto ga = at::make_generator<at::CPUGeneratorImpl>(4), gb = at::make_generator<at::CPUGeneratorImpl>(4);
  for (int64_t i = 3; i < 6; ++i) EXPECT_EQ(a.loss(i, ga).item<double>(), b.loss(i, gb).item<double>()) << i;
  auto broken = a.state();
  broken.erase("sampler");
  EXPECT_THROW(b.set_state(broken), std::invalid_argument);
}

TEST(ArctaExperiment, AFixedDiffusionIsNotAmongTheTrainedParametersNorDifferentiated) {
  auto [train, valid] = tiny_data();
  auto s = tiny(0.0);
  ArctaExperiment learned(s, train, valid);
  EXPECT_EQ(learned.parameters().count("diffusion_loc"), 1u);
  s.learn_diffusion = false;
  s.model.diffusion_init_loc = -3.0;
  ArctaExperiment fixed(s, train, valid);
  const auto params = fixed.parameters();
  EXPECT_EQ(params.size() + 2, learned.parameters().size());
  for (const auto& [name, p] : params) EXPECT_NE(name.rfind("diffusion_", 0), 0u) << name;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  fixed.loss(0, gen).backward();
  EXPECT_FALSE(fixed.model()->diffusion_loc().grad().defined());
  EXPECT_TRUE(at::allclose(fixed.model()->diffusion_loc(), at::full({2}, -3.0, at::kDouble)));
}

TEST(ArctaModel, SetDriftReplacesTheNetworkUntilCleared) {
  auto [train, valid] = tiny_data();
  ArctaExperiment exp(tiny(0.0), train, valid);
  auto& model = exp.model();
  const Tensor z = at::randn({5, 2}, at::kDouble), t = at::zeros({5}, at::kDouble);
  const Tensor net = model->drift(z, t);
  model->set_drift([](const Tensor& x, const Tensor&) { return -2 * x; });
  EXPECT_TRUE(at::allclose(model->drift(z, t), -2 * z));
  model->set_drift({});
  EXPECT_TRUE(at::equal(model->drift(z, t), net));
}

TEST(ArctaExperiment, ValidationForecastsEveryValidationTime) {
  auto [train, valid] = tiny_data();
  ArctaExperiment exp(tiny(0.0), train, valid);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(4);
  const auto v = exp.validate(6, gen);
  EXPECT_EQ(v.forecast.paths.sizes(), (std::vector<int64_t>{20, 6, 2}));
  EXPECT_EQ(v.times.size(), 20u);
  // The RMSE is that of the paths' mean against the validation series.
  EXPECT_NEAR(v.rmse, (v.forecast.mean - valid.x).square().mean().sqrt().item<double>(), 1e-12);
  // At t0 the mean is the first observation up to the start noise (sd 1e-3 over 6 paths).
  EXPECT_LT((v.forecast.mean[0] - valid.x[0]).abs().max().item<double>(), 5e-3);
  EXPECT_THROW(ArctaExperiment(tiny(1.5), train, valid), std::invalid_argument);
}

// The validation forecast uses the settings' scheme: with the true drift of the rotation the
// data follow, at a coarse dt = 0.1 over 1.9 time units, Euler-Maruyama's amplitude grows by
// (1 + dt^2)^(19/2) = 1.10 (RMSE about 0.05) where Heun's error is about T dt^2 / 6 = 0.003;
// the paths' noise (c = 1e-5, 64 paths, start sd 1e-3) adds under 0.001 to the mean.
TEST(ArctaExperiment, ValidationUsesTheSettingsScheme) {
  auto [train, valid] = tiny_data();
  double rmse[2];
  for (const auto method : {SdeMethod::kHeun, SdeMethod::kEulerMaruyama}) {
    auto s = tiny(0.0);
    s.valid_dt = 0.1;
    s.valid_method = method;
    ArctaExperiment exp(s, train, valid);
    exp.model()->set_drift(
        [](const Tensor& z, const Tensor&) { return at::stack({-z.select(-1, 1), z.select(-1, 0)}, -1); });
    rmse[method == SdeMethod::kHeun ? 0 : 1] = exp.validate(64, at::make_generator<at::CPUGeneratorImpl>(4)).rmse;
  }
  RecordProperty("heun_rmse", std::to_string(rmse[0]));
  RecordProperty("euler_rmse", std::to_string(rmse[1]));
  EXPECT_LT(rmse[0], 0.01);
  EXPECT_GT(rmse[1], 0.03);
}

}  // namespace
}  // namespace amortize::sde
