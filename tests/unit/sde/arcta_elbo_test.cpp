#include "amortize/sde/arcta.hpp"

#include <gtest/gtest.h>

#include <torch/csrc/autograd/autograd.h>

#include <cmath>

#include "amortize/dist/continuous/log_normal.hpp"
#include "amortize/dist/kl/kl_divergence.hpp"
#include "numeric_checks.hpp"

namespace amortize::sde {
namespace {

const auto kF64 = at::TensorOptions().dtype(at::kDouble);

// Two trajectories with uneven time stamps and a window of M = 2.
TimeSeriesDataset make_data() {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(21);
  std::vector<TimeSeries> series;
  for (int64_t n : {25, 18}) {
    const auto t = at::cumsum(at::rand({n}, gen, kF64) * 0.1 + 0.05, 0);
    const auto x = at::stack({at::sin(2 * t), at::cos(3 * t)}, 1) + 0.05 * at::randn({n, 2}, gen, kF64);
    series.push_back({t, x});
  }
  return TimeSeriesDataset(series, 2);
}

ArctaModel make_model() {
  torch::manual_seed(5);
  ArctaModelOptions o;
  o.latent_dim = 2;
  o.observation_dim = 2;
  o.window = 2;
  o.encoder_hidden = {8};
  o.decoder_hidden = {8};
  o.drift_hidden = {8, 8};
  o.drift_activation = Activation::kTanh;
  o.kernel.warp_hidden = {4};
  o.kernel.time_scale = 0.4;
  o.kernel.lengthscale = 0.2;
  o.kernel.jitter = 1e-3;
  o.diffusion_init_loc = -1.0;
  o.diffusion_init_scale = 0.3;
  return ArctaModel(o, kF64);
}

Tensor flat_gradient(ArctaModel& model, const Tensor& objective) {
  auto params = model->parameters();
  auto grads = torch::autograd::grad({objective}, params, {}, false, false, /*allow_unused=*/true);
  std::vector<Tensor> flat;
  for (size_t i = 0; i < grads.size(); ++i)
    flat.push_back(grads[i].defined() ? grads[i].reshape(-1) : at::zeros({params[i].numel()}, kF64));
  return at::cat(flat);
}

TEST(TimeSeriesDataset, ChunksTileEveryTrajectory) {
  const auto data = make_data();
  EXPECT_EQ(data.total_windows(), 24 + 17);
  const auto chunks = data.chunks(8);
  ASSERT_EQ(chunks.size(), 5u);  // 8, 8, 8 | 8, 9 (a lone trailing window joins its neighbour)
  int64_t covered = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    covered += chunks[i].length;
    const auto& t = data.trajectory(chunks[i].trajectory).t;
    EXPECT_DOUBLE_EQ(chunks[i].t_begin, t[chunks[i].start].item<double>());
    if (i + 1 < chunks.size() && chunks[i + 1].trajectory == chunks[i].trajectory) {
      EXPECT_DOUBLE_EQ(chunks[i].t_end, chunks[i + 1].t_begin);
    }
  }
  EXPECT_EQ(covered, data.total_windows());
  const auto cd = data.chunk_data(chunks[1]);
  EXPECT_EQ(cd.windows.sizes(), (at::IntArrayRef{8, 4}));
  EXPECT_TRUE(at::equal(cd.windows.narrow(1, 2, 2), data.trajectory(0).x.narrow(0, 9, 8)));
  // Without replacement: one epoch visits every chunk once.
  ChunkSampler sampler(data, 8, 1);
  std::vector<int> seen(chunks.size(), 0);
  for (size_t i = 0; i < chunks.size(); ++i) {
    const auto& c = sampler.next();
    for (size_t j = 0; j < chunks.size(); ++j)
      if (chunks[j].trajectory == c.trajectory && chunks[j].start == c.start) ++seen[j];
  }
  for (int s : seen) EXPECT_EQ(s, 1);
}

TEST(ArctaModel, DiffusionKlMatchesTheDistributionLibrary) {
  auto model = make_model();
  const auto q = dist::LogNormal(model->diffusion_loc().detach(), model->diffusion_scale().detach());
  const auto p = dist::LogNormal(at::zeros({2}, kF64), at::ones({2}, kF64));
  EXPECT_NEAR(model->diffusion_kl().item<double>(), dist::kl_divergence(q, p).sum().item<double>(), 1e-12);
}

TEST(ArctaElbo, CountsDriftEvaluationsAndIsFinite) {
  auto model = make_model();
  const auto data = make_data();
  ChunkSampler sampler(data, 8, 3);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(9);
  NfeCounter nfe;
  ArctaSettings settings{3, 7};
  const auto terms = arcta_elbo(model, data, sampler.next(), sampler.num_chunks(), settings, 0.5, gen, &nfe);
  EXPECT_EQ(nfe.count(), 21);
  EXPECT_EQ(terms.nfe, 21);
  EXPECT_TRUE(std::isfinite(terms.elbo.item<double>()));
  EXPECT_GT(terms.residual_integral.item<double>(), 0);
  EXPECT_NEAR(terms.elbo.item<double>(),
              5 * (terms.log_likelihood.item<double>() - 0.25 * terms.residual_integral.item<double>()) -
                  0.5 * terms.kl.item<double>(),
              1e-9);
}

// The gradient of a single-chunk, R = 1, S = 2 estimate averaged over many draws matches the
// gradient of a high-sample estimate summed over every chunk, within Monte Carlo error, along
// random directions and on the diffusion parameters.
TEST(ArctaElbo, GradientIsUnbiased) {
  auto model = make_model();
  const auto data = make_data();
  ChunkSampler sampler(data, 8, 17);
  const double beta = 0.7;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(123);

  const int64_t n_single = 1000;
  std::vector<Tensor> single;
  for (int64_t i = 0; i < n_single; ++i) {
    const auto terms = arcta_elbo(model, data, sampler.next(), sampler.num_chunks(), {1, 2}, beta, gen);
    single.push_back(flat_gradient(model, terms.elbo));
  }
  const int64_t n_ref = 20;
  std::vector<Tensor> ref;
  for (int64_t i = 0; i < n_ref; ++i) {
    Tensor total;
    for (const auto& c : sampler.chunks()) {
      auto terms = arcta_elbo(model, data, c, 1, {16, 32}, beta, gen);
      auto e = terms.elbo + beta * terms.kl;  // KL once for the whole data set
      total = total.defined() ? total + e : e;
    }
    ref.push_back(flat_gradient(model, total - beta * model->diffusion_kl()));
  }
  const auto gs = at::stack(single), gr = at::stack(ref);
  const int64_t p = gs.size(1);
  auto dir_gen = at::make_generator<at::CPUGeneratorImpl>(77);
  auto dirs = at::randn({p, 6}, dir_gen, kF64);
  // Also the diffusion parameters' coordinates (diffusion_loc then diffusion_log_scale).
  int64_t offset = 0;
  for (const auto& item : model->named_parameters()) {
    if (item.key() == "diffusion_loc") break;
    offset += item.value().numel();
  }
  ASSERT_LE(offset + 4, p);
  dirs = at::cat({dirs, at::eye(p, kF64).narrow(1, offset, 4)}, 1);
  const auto ps = gs.matmul(dirs), pr = gr.matmul(dirs);
  for (int64_t j = 0; j < dirs.size(1); ++j) {
    const double ms = ps.select(1, j).mean().item<double>(), mr = pr.select(1, j).mean().item<double>();
    const double se = std::sqrt(ps.select(1, j).var().item<double>() / n_single + pr.select(1, j).var().item<double>() / n_ref);
    EXPECT_LT(std::abs(ms - mr), testing::kMonteCarloZ * se) << "direction " << j << ": " << ms << " vs " << mr;
    EXPECT_GT(std::abs(mr), 2 * se) << "direction " << j << " is uninformative";
  }
}

}  // namespace
}  // namespace amortize::sde
