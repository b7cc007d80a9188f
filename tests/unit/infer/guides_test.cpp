// Guides beyond the Gaussian families' basics: sticking the landing, the normalizing flow,
// amortized (encoder) guides through `module`, and subsampled plates whose batch size changes.
#include "amortize/dist/continuous/normal.hpp"
#include "amortize/infer/elbo.hpp"
#include "amortize/infer/guides/auto_continuous.hpp"
#include "amortize/infer/guides/auto_normal.hpp"
#include "amortize/infer/guides/auto_normalizing_flow.hpp"
#include "amortize/infer/predictive.hpp"
#include "amortize/infer/svi.hpp"
#include "amortize/model/handlers.hpp"
#include "amortize/model/module.hpp"
#include "amortize/model/param_store.hpp"
#include "amortize/model/primitives.hpp"
#include "normal_mean_model.hpp"
#include "numeric_checks.hpp"

#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/nn/modules/linear.h>

#include <cmath>

using namespace amortize;
using namespace amortize::infer;
using namespace amortize::model;
using amortize::dist::Normal;
using amortize::testing::f64;
using amortize::testing::NormalMean;

namespace {
// Gradients of one single-particle ELBO draw with respect to every parameter in the store.
std::vector<Tensor> one_draw_gradient(const Program& model, const Program& guide, uint64_t seed) {
  SeedHandler seed_handler(seed);
  TraceElbo elbo;
  Tensor loss = elbo.loss(model, guide);
  return torch::autograd::grad({loss}, active_param_store().parameters());
}

double largest_abs(const std::vector<Tensor>& tensors) {
  double out = 0;
  for (const auto& t : tensors) out = std::max(out, t.abs().max().item<double>());
  return out;
}
}  // namespace

TEST(StickingTheLanding, GradientIsExactlyZeroAtTheExactPosteriorForAutoNormal) {
  NormalMean target;
  Program model = [&] { target(); };
  for (bool stl : {false, true}) {
    ParamStore store;
    ParamStoreScope scope(store);
    auto guide = std::make_shared<AutoNormal>(model);
    guide->set_sticking_the_landing(stl);
    guide->program()();
    guide->set_loc_scale("mu", at::scalar_tensor(target.post_mean(), f64()),
                         at::scalar_tensor(std::sqrt(target.post_var()), f64()));
    double largest = 0;
    for (uint64_t seed = 1; seed <= 10; ++seed) largest = std::max(largest, largest_abs(one_draw_gradient(model, guide->program(), seed)));
    if (stl) {
      EXPECT_LT(largest, 1e-10);
    } else {
      EXPECT_GT(largest, 1e-2);  // the score term's noise that STL removes
    }
  }
}

TEST(StickingTheLanding, GradientIsExactlyZeroAtTheExactPosteriorForFullRank) {
  NormalMean target;
  Program model = [&] { target(); };
  ParamStore store;
  ParamStoreScope scope(store);
  auto guide = std::make_shared<AutoMultivariateNormal>(model);
  guide->set_sticking_the_landing(true);
  ASSERT_TRUE(guide->initialize_laplace());  // exact for a Gaussian posterior
  double largest = 0;
  for (uint64_t seed = 1; seed <= 10; ++seed) largest = std::max(largest, largest_abs(one_draw_gradient(model, guide->program(), seed)));
  EXPECT_LT(largest, 1e-8);
}

TEST(AutoNormalizingFlow, LogDeterminantMatchesTheAutogradJacobian) {
  // A 3-dimensional latent so that the autoregressive structure matters.
  Program model = [] {
    sample("a", Normal(at::zeros({3}, f64()), 1.0).to_event(1));
  };
  ParamStore store;
  ParamStoreScope scope(store);
  AutoNormalizingFlow guide(model, FlowOptions{3, 5});
  guide.program()();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  {
    at::NoGradGuard no_grad;
    for (auto& p : store.parameters()) p.add_(at::randn(p.sizes(), gen, p.options()) * 0.5);
  }
  Tensor eps = at::randn({3}, gen, f64());
  Tensor jacobian = amortize::testing::autograd_jacobian([&](const Tensor& e) { return guide.transform(e).first; }, eps);
  const double expected = std::get<1>(at::linalg_slogdet(jacobian)).item<double>();
  EXPECT_NEAR(guide.transform(eps).second.item<double>(), expected, 1e-10);
  // Batched inputs give the same per-row results.
  Tensor batch = at::stack({eps, eps * 2});
  auto [z, log_det] = guide.transform(batch);
  EXPECT_NEAR(log_det[0].item<double>(), expected, 1e-10);
  EXPECT_TRUE(at::allclose(z[0], guide.transform(eps).first));
}

TEST(AutoNormalizingFlow, RecoversTheConjugatePosterior) {
  NormalMean target;
  Program model = [&] { target(); };
  ParamStore store;
  ParamStoreScope scope(store);
  auto guide = std::make_shared<AutoNormalizingFlow>(model);
  const int64_t steps = 3000;
  Svi svi(model, guide->program(), std::make_shared<TraceElbo>(ElboOptions{8}), {0.02, 3, std::pow(0.01, 1.0 / steps)});
  for (int64_t i = 0; i < steps; ++i) svi.step();
  auto [mean, cov] = guide->loc_covariance();
  // loc_covariance uses 4096 draws: its Monte-Carlo error on the mean is sd / 64.
  const double sd = std::sqrt(target.post_var());
  EXPECT_NEAR(mean.item<double>(), target.post_mean(), 4 * sd / 64 + 0.05 * sd);
  EXPECT_NEAR(std::sqrt(cov.item<double>()) / sd, 1.0, 0.1);
}

namespace {
// A global mean seen through y (mu ~ N(0, 10^2), y_j ~ N(mu, 1)) and independent locals seen
// through x (z_i ~ N(0, 1), x_i ~ N(z_i, 0.5^2)): the exact posterior factorises, with
// mu | y Gaussian and z_i | x_i = N(0.8 x_i, 0.2), a linear function of x_i that a linear
// encoder can represent exactly.
struct GlobalAndLocals {
  Tensor y = at::linspace(0.5, 2.5, 20, f64());
  Tensor x;
  std::shared_ptr<int64_t> batch = std::make_shared<int64_t>(20);
  explicit GlobalAndLocals(int64_t n) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
    x = at::randn({n}, gen, f64()) * std::sqrt(1.25);
  }
  double mu_post_var() const { return 1.0 / (0.01 + y.size(0)); }
  double mu_post_mean() const { return mu_post_var() * y.sum().item<double>(); }
  void operator()() const {
    auto mu = sample("mu", Normal(at::zeros({}, f64()), 10.0));
    {
      auto ys = plate("ys", y.size(0));
      sample("y", Normal(mu, 1.0), ys, y);
    }
    auto data = plate("data", x.size(0), *batch);
    auto z = sample("z", Normal(at::zeros({}, f64()), 1.0), data);
    sample("x", Normal(z, 0.5), data, x.index_select(0, data.indices()));
  }
};
}  // namespace

TEST(AmortizedGuide, EncoderAndAutoNormalRecoverTheExactPosteriorWithChangingBatchSizes) {
  GlobalAndLocals target(200);
  Program model = [&] { target(); };
  ParamStore store;
  ParamStoreScope scope(store);
  // The global latent gets an AutoNormal over the model with the locals hidden...
  auto globals = std::make_shared<AutoNormal>([&] {
    auto hide = BlockHandler::hiding({"z"});
    target();
  });
  // ...and the locals an encoder: (loc, log scale) = Linear(x_i).
  torch::nn::Linear encoder(1, 2);
  encoder->to(at::kDouble);
  {
    // Initial weights from the test's own generator, not the process-wide one.
    at::NoGradGuard no_grad;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
    encoder->weight.copy_(at::randn({2, 1}, gen, f64()) * 0.5);
    encoder->bias.zero_();
  }
  Program guide = [&] {
    globals->program()();
    auto data = plate("data", target.x.size(0), *target.batch);
    Tensor out = module("encoder", encoder)->forward(target.x.index_select(0, data.indices()).unsqueeze(-1));
    sample("z", Normal(out.select(-1, 0), out.select(-1, 1).exp()), data);
  };
  const int64_t steps = 4000;
  Svi svi(model, guide, std::make_shared<TraceElbo>(ElboOptions{4}), {0.05, 5, std::pow(0.01, 1.0 / steps)});
  const std::vector<int64_t> batch_sizes{10, 25, 50, 200};
  for (int64_t i = 0; i < steps; ++i) {
    *target.batch = batch_sizes[static_cast<size_t>(i) % batch_sizes.size()];
    svi.step();
  }
  EXPECT_TRUE(store.contains("encoder$weight"));
  EXPECT_TRUE(store.contains("encoder$bias"));
  auto [loc, scale] = globals->loc_scale("mu");
  const double mu_sd = std::sqrt(target.mu_post_var());
  EXPECT_NEAR(loc.item<double>(), target.mu_post_mean(), 0.1 * mu_sd);
  EXPECT_NEAR(scale.item<double>() / mu_sd, 1.0, 0.1);
  Tensor w = encoder->weight.detach();
  Tensor b = encoder->bias.detach();
  EXPECT_NEAR(w[0][0].item<double>(), 0.8, 0.03);
  EXPECT_NEAR(b[0].item<double>(), 0.0, 0.03);
  EXPECT_NEAR(w[1][0].item<double>(), 0.0, 0.03);
  EXPECT_NEAR(std::exp(b[1].item<double>()), std::sqrt(0.2), 0.03);
}

TEST(Module, RegistersParametersAndReloadsStoredValues) {
  ParamStore store;
  ParamStoreScope scope(store);
  torch::nn::Linear first(3, 2);
  register_module_parameters("net", *first.ptr());
  ASSERT_TRUE(store.contains("net$weight"));
  EXPECT_TRUE(store.entry("net$weight").unconstrained.is_same(first->weight));
  // A second module under the same name (a resumed run) takes the stored values.
  torch::nn::Linear second(3, 2);
  register_module_parameters("net", *second.ptr());
  EXPECT_TRUE(at::equal(second->weight, first->weight));
  EXPECT_TRUE(store.entry("net$weight").unconstrained.is_same(second->weight));
  torch::nn::Linear wrong(4, 2);
  EXPECT_THROW(register_module_parameters("net", *wrong.ptr()), ModelError);
}

TEST(AutoNormal, SubsampledLocalsKeepFullSizeParametersAcrossBatchSizes) {
  GlobalAndLocals target(50);
  Program model = [&] { target(); };
  ParamStore store;
  ParamStoreScope scope(store);
  AutoNormal guide(model);
  Svi svi(model, guide.program(), std::make_shared<TraceElbo>(), {0.01, 1, 1.0});
  for (int64_t b : {5, 17, 50, 1}) {
    guide.set_subsample_size("data", b);
    EXPECT_TRUE(std::isfinite(svi.step())) << "batch " << b;
  }
  EXPECT_EQ(guide.loc_scale("z").first.size(0), 50);
}

TEST(PosteriorDraws, PredictiveDrawsOfChosenSitesFollowThePosteriorPredictive) {
  NormalMean target;
  Program model = [&] { target(); };
  ParamStore store;
  ParamStoreScope scope(store);
  AutoNormal guide(model);
  guide.program()();
  const double sd = std::sqrt(target.post_var());
  guide.set_loc_scale("mu", at::scalar_tensor(target.post_mean(), f64()), at::scalar_tensor(sd, f64()));
  const int64_t n = 4000;
  auto draws = posterior_draws(model, guide.program(), n, 5, /*include_observed=*/true, {"x"});
  ASSERT_EQ(draws.sites, std::vector<std::string>{"x"});
  ASSERT_EQ(draws.draws.at("x").sizes(), (at::IntArrayRef{n, 20}));
  // x_new = mu + noise: mean post_mean, variance post_var + 1, per element.
  Tensor first = draws.draws.at("x").select(1, 0);
  const double predictive_sd = std::sqrt(target.post_var() + 1.0);
  EXPECT_NEAR(first.mean().item<double>(), target.post_mean(), 4 * predictive_sd / std::sqrt(double(n)));
  EXPECT_EQ(draws.log_p.size(0), n);
  EXPECT_THROW(posterior_draws(model, guide.program(), 10, 5, false, {"nope"}), std::invalid_argument);
}
