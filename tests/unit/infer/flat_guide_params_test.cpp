// Guides keep their parameters in flat tensors split per site by one autograd node: the split
// must give the same values and (first and second) gradients as narrow + reshape, and
// AutoNormal's per-site view of its two flat parameters must read and write the right slice.
// The full-rank guide's Laplace frame is fixed, and follows its tensors when a checkpoint
// overwrites them.
#include "amortize/dist/continuous/half_cauchy.hpp"
#include "amortize/dist/continuous/normal.hpp"
#include "amortize/infer/guides/auto_continuous.hpp"
#include "amortize/infer/guides/auto_normal.hpp"
#include "amortize/infer/guides/split_sites.hpp"
#include "amortize/model/param_store.hpp"
#include "amortize/model/primitives.hpp"
#include "normal_mean_model.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

using namespace amortize;
using namespace amortize::infer;
using amortize::testing::f64;

namespace {
const std::vector<int64_t> kSizes{1, 6, 2};
// Pieces of a (3, 9) joint tensor: scalar sites get (3), a (2, 3) site (3, 2, 3), a (2) site (3, 1, 2).
const std::vector<Shape> kShapes{{3}, {3, 2, 3}, {3, 1, 2}};

// Sum of w_i * piece_i^3 over the pieces (a non-linear function, so second derivatives differ).
Tensor weighted_cubes(const std::vector<Tensor>& pieces, const std::vector<Tensor>& weights) {
  Tensor total = at::zeros({}, f64());
  for (size_t i = 0; i < pieces.size(); ++i) total = total + (weights[i] * pieces[i].pow(3)).sum();
  return total;
}
}  // namespace

TEST(SplitSites, ValuesAndGradientsEqualNarrowAndReshape) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  Tensor joint = at::randn({3, 9}, gen, f64()).set_requires_grad(true);
  std::vector<Tensor> weights;
  for (const auto& shape : kShapes) weights.push_back(at::randn(shape, gen, f64()));
  auto fused = split_sites(joint, kSizes, kShapes);
  std::vector<Tensor> reference;
  int64_t offset = 0;
  for (size_t i = 0; i < kSizes.size(); ++i) {
    reference.push_back(joint.narrow(-1, offset, kSizes[i]).reshape(kShapes[i]));
    offset += kSizes[i];
    EXPECT_TRUE(at::equal(fused[i], reference[i])) << "piece " << i;
  }
  // First derivatives, with a graph for the second (as the Laplace start's Hessian).
  Tensor g_fused = torch::autograd::grad({weighted_cubes(fused, weights)}, {joint}, {}, true, true)[0];
  Tensor g_ref = torch::autograd::grad({weighted_cubes(reference, weights)}, {joint}, {}, true, true)[0];
  EXPECT_TRUE(at::allclose(g_fused, g_ref, 1e-14, 0));
  Tensor h_fused = torch::autograd::grad({g_fused.sum()}, {joint})[0];
  Tensor h_ref = torch::autograd::grad({g_ref.sum()}, {joint})[0];
  EXPECT_TRUE(at::allclose(h_fused, h_ref, 1e-14, 0));
}

TEST(SplitSites, PiecesWithoutGradientGetZerosAndBadShapesAreRefused) {
  Tensor joint = at::arange(18, f64()).reshape({2, 9}).set_requires_grad(true);
  auto pieces = split_sites(joint, kSizes, {{2}, {2, 6}, {2, 2}});
  Tensor g = torch::autograd::grad({pieces[1].sum()}, {joint})[0];
  EXPECT_TRUE(at::equal(g.narrow(1, 1, 6), at::ones({2, 6}, f64())));
  EXPECT_EQ(g.narrow(1, 0, 1).abs().sum().item<double>(), 0.0);
  EXPECT_EQ(g.narrow(1, 7, 2).abs().sum().item<double>(), 0.0);
  EXPECT_THROW(split_sites(joint, {1, 6}, {{2}, {2, 6}}), std::invalid_argument);          // sizes sum to 7, not 9
  EXPECT_THROW(split_sites(joint, kSizes, {{2}, {2, 5}, {2, 2}}), std::invalid_argument);  // 10 elements for 12
}

TEST(AutoNormal, KeepsTwoFlatParametersAndReadsAndWritesEachSitesSlice) {
  Program model = [] {
    auto tau = model::sample("tau", dist::HalfCauchy(at::scalar_tensor(5.0, f64())));
    auto schools = model::plate("schools", 4);
    model::sample("theta", dist::Normal(at::zeros({}, f64()), tau), schools);
  };
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  AutoNormal guide(model);
  guide.program()();
  EXPECT_EQ(store.names(), (std::vector<std::string>{"AutoNormal.loc", "AutoNormal.scale"}));
  EXPECT_EQ(store.constrained("AutoNormal.loc").size(0), 5);
  guide.set_loc_scale("theta", at::arange(4, f64()), at::full({4}, 0.5, f64()));
  guide.set_loc_scale("tau", at::scalar_tensor(-1.0, f64()), at::scalar_tensor(2.0, f64()));
  EXPECT_TRUE(at::equal(store.constrained("AutoNormal.loc"), at::tensor({-1.0, 0.0, 1.0, 2.0, 3.0}, f64())));
  auto [loc, scale] = guide.loc_scale("theta");
  EXPECT_TRUE(at::equal(loc, at::arange(4, f64())));
  EXPECT_TRUE(at::allclose(scale, at::full({4}, 0.5, f64()), 1e-15, 0));
  EXPECT_NEAR(guide.median().at("tau").item<double>(), std::exp(-1.0), 1e-15);
  EXPECT_THROW(guide.loc_scale("sigma"), model::ModelError);
}

TEST(AutoMultivariateNormal, TrustedLaplaceStartBecomesTheFrameAndTravelsWithTheParameters) {
  amortize::testing::NormalMean target;
  Program model = [&] { target(); };
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  AutoMultivariateNormal guide(model);
  ASSERT_TRUE(guide.initialize_laplace());
  // A Gaussian posterior: the Laplace start is exact, every importance weight equal.
  EXPECT_NEAR(guide.laplace_weight_share(), 1.0, 1e-9);
  auto [loc, cov] = guide.loc_covariance();
  EXPECT_NEAR(loc[0].item<double>(), target.post_mean(), 1e-8);
  EXPECT_NEAR(cov[0][0].item<double>(), target.post_var(), 1e-10);
  // Trained parameters start at the frame's origin; the frame itself is not trained.
  EXPECT_EQ(store.constrained("AutoMultivariateNormal.loc").abs().max().item<double>(), 0.0);
  EXPECT_NEAR(store.constrained("AutoMultivariateNormal.frame_tril")[0][0].item<double>(), std::sqrt(target.post_var()),
              1e-10);
  EXPECT_EQ(store.parameters().size(), 2u);
  // A fresh guide whose parameters are overwritten in place, as a checkpoint does, reads the frame.
  model::ParamStore other;
  model::ParamStoreScope other_scope(other);
  AutoMultivariateNormal resumed(model);
  resumed.program()();
  EXPECT_NEAR(resumed.loc_covariance().second[0][0].item<double>(), 0.01, 1e-12);  // init_scale^2, identity frame
  {
    at::NoGradGuard no_grad;
    for (const auto& name : store.names()) other.entry(name).unconstrained.copy_(store.entry(name).unconstrained);
  }
  auto [loc2, cov2] = resumed.loc_covariance();
  EXPECT_TRUE(at::allclose(loc2, loc, 0, 0));
  EXPECT_TRUE(at::allclose(cov2, cov, 0, 0));
}
