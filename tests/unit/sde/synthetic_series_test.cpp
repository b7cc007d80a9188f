// The made data sets: the pendulum's quarter period against the elliptic-integral formula, its
// frames (a disc where the bob is), the Lorenz series against its vector field, and a CNN
// encoder over pendulum frames training through the ELBO.
#include "amortize/sde/synthetic_series.hpp"
#include "amortize/sde/arcta.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>

namespace amortize::sde {
namespace {

TEST(PendulumVideo, QuarterPeriodMatchesTheEllipticIntegral) {
  PendulumVideoOptions o;
  o.frames_per_second = 1000;
  o.duration = 1.0;
  const Tensor theta = pendulum_angles(o);
  // T = 4 sqrt(L / g) K(sin(theta0 / 2)), K(m = 1/2) = 1.8540746773013719; the angle first
  // reaches 0 at T / 4.
  const double quarter = std::sqrt(o.length / o.gravity) * 1.8540746773013719;
  const auto a = theta.accessor<double, 1>();
  int64_t i = 1;
  while (i < theta.size(0) && a[i] > 0) ++i;
  ASSERT_LT(i, theta.size(0));
  const double crossing = (static_cast<double>(i - 1) + a[i - 1] / (a[i - 1] - a[i])) / o.frames_per_second;
  EXPECT_NEAR(crossing, quarter, 1e-5);
  EXPECT_NEAR(a[0], o.theta0, 1e-12);
}

TEST(PendulumVideo, FramesShowADiscAtTheBob) {
  PendulumVideoOptions o;
  o.duration = 2.0;
  const auto v = pendulum_video(o, at::TensorOptions().dtype(at::kDouble));
  ASSERT_EQ(v.x.sizes(), (std::vector<int64_t>{30, 32 * 32}));
  EXPECT_NEAR(v.t[1].item<double>(), 1.0 / 15.0, 1e-12);
  EXPECT_TRUE(((v.x == 0) | (v.x == 1)).all().item<bool>());
  // Frame 0: the bob is level with the pivot, to the right: at (x, y) = (16 + 12.8, 9.6).
  const Tensor f0 = v.x[0].view({32, 32});
  const double area = f0.sum().item<double>();
  EXPECT_NEAR(area, M_PI * 3.2 * 3.2, 6.0);
  const Tensor centres = at::arange(32, at::kDouble) + 0.5;
  EXPECT_NEAR((f0.sum(0) * centres).sum().item<double>() / area, 28.8, 0.3);
  EXPECT_NEAR((f0.sum(1) * centres).sum().item<double>() / area, 9.6, 0.3);
  // The frames change as the bob swings.
  EXPECT_GT((v.x[0] - v.x[5]).abs().sum().item<double>(), 10.0);
}

TEST(LorenzSeries, FollowsTheLorenzField) {
  LorenzSeriesOptions o;
  o.dt = 1e-3;
  o.duration = 1.0;
  o.noise_sd = 0.0;
  const auto s = lorenz_series(o, at::TensorOptions().dtype(at::kDouble));
  ASSERT_EQ(s.x.sizes(), (std::vector<int64_t>{1001, 3}));
  const Tensor x = s.x.narrow(0, 1, 999);
  const Tensor central = (s.x.narrow(0, 2, 999) - s.x.narrow(0, 0, 999)) / (2 * o.dt);
  const Tensor a = x.select(1, 0), b = x.select(1, 1), c = x.select(1, 2);
  const Tensor field = at::stack({o.sigma * (b - a), a * (o.rho - c) - b, a * b - o.beta * c}, 1);
  // Central differences err by dt^2 / 6 |x'''| ~ 1e-2 here; the field's size is ~100.
  EXPECT_LT((central - field).abs().max().item<double>(), 0.1);
  EXPECT_GT(field.abs().max().item<double>(), 20.0);
  // With noise: unit-sd residuals.
  o.noise_sd = 1.0;
  const auto noisy = lorenz_series(o, at::TensorOptions().dtype(at::kDouble));
  const double sd = (noisy.x - s.x).std().item<double>();
  EXPECT_NEAR(sd, 1.0, 4 * 1.0 / std::sqrt(2.0 * 3003));
}

TEST(ConvEncoder, TrainsOnPendulumFramesThroughTheElbo) {
  PendulumVideoOptions po;
  po.duration = 3.0;
  po.frame_size = 16;
  const auto v = pendulum_video(po, at::TensorOptions().dtype(at::kDouble));
  TimeSeriesDataset data({v}, 5);
  ArctaModelOptions o;
  o.latent_dim = 2;
  o.observation_dim = 16 * 16;
  o.window = 5;
  o.conv_encoder = true;
  o.encoder_channels = {4, 8};
  o.encoder_hidden = {16};
  o.decoder_hidden = {16};
  o.drift_hidden = {8};
  o.kernel.warp_hidden = {4};
  o.kernel.time_scale = 1.0;
  o.likelihood = Likelihood::kBernoulli;
  torch::manual_seed(3);
  ArctaModel model(o, at::TensorOptions().dtype(at::kDouble));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  const Chunk chunk = data.chunks(16)[0];
  const auto terms = arcta_elbo(model, data, chunk, 1, ArctaSettings{1, 4}, 1.0, gen);
  ASSERT_TRUE(std::isfinite(terms.elbo.item<double>()));
  terms.elbo.backward();
  const auto params = model->named_parameters();
  const Tensor g = params["encoder.conv0.weight"].grad();
  ASSERT_TRUE(g.defined());
  EXPECT_TRUE(g.isfinite().all().item<bool>());
  EXPECT_GT(g.abs().sum().item<double>(), 0.0);
  // Observations that are not frames of the given height are refused, naming the setting.
  o.observation_dim = 250;
  try {
    ArctaModel bad(o);
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("frame_height"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace amortize::sde
