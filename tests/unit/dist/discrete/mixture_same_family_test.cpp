#include "amortize/dist/mixture_same_family.hpp"

#include "amortize/dist/continuous/normal.hpp"
#include "amortize/dist/discrete/binomial.hpp"
#include "amortize/dist/discrete/poisson.hpp"
#include "discrete_test_support.hpp"

#include <cmath>

using namespace amortize;
using namespace amortize::dist;
using namespace amortize::testing;

namespace {
double normal_pdf(double x, double m, double s) {
  const double z = (x - m) / s;
  return std::exp(-0.5 * z * z) / (s * std::sqrt(2 * M_PI));
}

// A two-row batch of three-component Gaussian mixtures.
struct GaussianMixture {
  std::vector<std::vector<double>> w = {{0.2, 0.5, 0.3}, {0.6, 0.1, 0.3}};
  std::vector<std::vector<double>> m = {{-2.0, 0.0, 3.0}, {1.0, 5.0, -4.0}};
  std::vector<std::vector<double>> s = {{0.5, 1.0, 2.0}, {0.3, 0.7, 1.5}};
  MixtureSameFamily dist(at::ScalarType dtype = at::kDouble) const {
    auto opts = at::TensorOptions().dtype(dtype);
    auto to_t = [&](const std::vector<std::vector<double>>& v) {
      return at::stack({at::tensor(v[0], opts), at::tensor(v[1], opts)});
    };
    return MixtureSameFamily(Categorical::from_probs(to_t(w)), std::make_shared<Normal>(to_t(m), to_t(s)));
  }
  double mean(int b) const {
    double r = 0;
    for (int k = 0; k < 3; ++k) r += w[b][k] * m[b][k];
    return r;
  }
  double variance(int b) const {
    double second = 0;
    for (int k = 0; k < 3; ++k) second += w[b][k] * (s[b][k] * s[b][k] + m[b][k] * m[b][k]);
    return second - mean(b) * mean(b);
  }
};
}  // namespace

TEST(MixtureSameFamily, LogProbMatchesExplicitSumOfComponents) {
  GaussianMixture g;
  auto d = g.dist();
  EXPECT_EQ(d.batch_shape(), (Shape{2}));
  EXPECT_EQ(d.event_shape(), (Shape{}));
  EXPECT_EQ(d.num_components(), 3);
  for (double x : {-30.0, -2.0, 0.1, 2.9, 6.0}) {
    auto lp = d.log_prob(at::full({2}, x, f64()));
    for (int b = 0; b < 2; ++b) {
      double density = 0;
      for (int k = 0; k < 3; ++k) density += g.w[b][k] * normal_pdf(x, g.m[b][k], g.s[b][k]);
      if (density > 1e-300) {
        EXPECT_NEAR(lp[b].item<double>(), std::log(density), 1e-12 * std::abs(std::log(density)) + 1e-13);
      } else {
        EXPECT_TRUE(std::isfinite(lp[b].item<double>()));  // logsumexp keeps far tails finite
      }
    }
  }
  // Sample dimensions broadcast: (5, 1) against batch (2).
  EXPECT_EQ(d.log_prob(at::zeros({5, 1}, f64())).sizes(), (at::IntArrayRef{5, 2}));
}

TEST(MixtureSameFamily, PoissonMixtureLogProbMatchesExplicitSum) {
  const std::vector<double> w = {0.7, 0.3}, rate = {0.0, 6.0};
  MixtureSameFamily d(Categorical::from_probs(at::tensor(w, f64())),
                      std::make_shared<Poisson>(at::tensor(rate, f64())));
  EXPECT_TRUE(d.is_discrete());
  for (double k : {0.0, 1.0, 6.0, 20.0}) {
    double p = 0;
    for (int c = 0; c < 2; ++c) {
      p +=
          w[c] * (rate[c] == 0 ? (k == 0 ? 1.0 : 0.0) : std::exp(k * std::log(rate[c]) - rate[c] - std::lgamma(k + 1)));
    }
    EXPECT_NEAR(d.log_prob(at::scalar_tensor(k, f64())).item<double>(), std::log(p), 1e-12 * std::abs(std::log(p)));
  }
  auto gen = at::make_generator<at::CPUGeneratorImpl>(21);
  auto xs = d.sample({40000}, gen);
  std::vector<double> pmf;
  for (int k = 0; k <= 14; ++k) pmf.push_back(d.log_prob(at::scalar_tensor(double(k), f64())).exp().item<double>());
  EXPECT_TRUE(frequencies_match(xs, pmf));
}

TEST(MixtureSameFamily, MeanAndVarianceFollowTheLawOfTotalVariance) {
  GaussianMixture g;
  auto d = g.dist();
  for (int b = 0; b < 2; ++b) {
    EXPECT_NEAR(d.mean()[b].item<double>(), g.mean(b), 1e-13);
    EXPECT_NEAR(d.variance()[b].item<double>(), g.variance(b), 1e-12);
  }
}

TEST(MixtureSameFamily, SamplesMatchMomentsAndPassKolmogorovSmirnov) {
  GaussianMixture g;
  auto d = g.dist(at::kFloat);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(22);
  auto xs = d.sample({30000}, gen);
  EXPECT_EQ(xs.sizes(), (at::IntArrayRef{30000, 2}));
  EXPECT_EQ(xs.scalar_type(), at::kFloat);
  for (int b = 0; b < 2; ++b) {
    EXPECT_TRUE(moments_match(xs.select(1, b), g.mean(b), g.variance(b)));
    auto column = xs.select(1, b).to(at::kDouble);
    const double ks = ks_statistic(column, [&](const at::Tensor& v) {
      auto out = at::zeros_like(v);
      for (int k = 0; k < 3; ++k) out += g.w[b][k] * 0.5 * at::erfc(-(v - g.m[b][k]) / (g.s[b][k] * std::sqrt(2.0)));
      return out;
    });
    EXPECT_LT(ks, ks_critical_value(column.numel()));
  }
}

TEST(MixtureSameFamily, VectorComponentsThroughIndependent) {
  // Components: Normal with batch (K=2) and event (3) via to_event.
  auto locs = matrix({{0.0, 1.0, 2.0}, {-1.0, 4.0, 0.5}}, f64());
  auto scales = matrix({{1.0, 0.5, 2.0}, {0.3, 1.0, 1.0}}, f64());
  auto component = std::make_shared<Normal>(locs, scales)->to_event(1);
  MixtureSameFamily d(Categorical::from_probs(at::tensor({0.4, 0.6}, f64())), component);
  EXPECT_EQ(d.batch_shape(), (Shape{}));
  EXPECT_EQ(d.event_shape(), (Shape{3}));
  auto x = at::tensor({0.5, 2.0, 1.0}, f64());
  double p = 0;
  const double w[2] = {0.4, 0.6};
  for (int k = 0; k < 2; ++k) {
    double dens = w[k];
    for (int j = 0; j < 3; ++j)
      dens *= normal_pdf(x[j].item<double>(), locs[k][j].item<double>(), scales[k][j].item<double>());
    p += dens;
  }
  EXPECT_NEAR(d.log_prob(x).item<double>(), std::log(p), 1e-12);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(23);
  auto xs = d.sample({20000}, gen);
  EXPECT_EQ(xs.sizes(), (at::IntArrayRef{20000, 3}));
  auto mean = d.mean();
  auto var = d.variance();
  EXPECT_EQ(mean.sizes(), (at::IntArrayRef{3}));
  for (int j = 0; j < 3; ++j) {
    EXPECT_TRUE(moments_match(xs.select(1, j), mean[j].item<double>(), var[j].item<double>())) << "coordinate " << j;
  }
  EXPECT_TRUE(throws_error([&] { d.log_prob(at::zeros({2}, f64())); },
                           "MixtureSameFamily: value of shape (2) does not end in the event shape (3)"));
}

TEST(MixtureSameFamily, GradientsMatchFiniteDifferences) {
  auto x = at::tensor({-1.0, 0.4, 2.5}, f64()).unsqueeze(-1);
  // params = 3 mixture logits, 3 locs, 3 log-scales.
  auto params = at::tensor({0.2, -0.5, 1.0, -1.0, 0.5, 2.0, 0.0, -0.3, 0.4}, f64());
  auto lp = [&](const at::Tensor& p) {
    MixtureSameFamily d(Categorical::from_logits(p.slice(0, 0, 3)),
                        std::make_shared<Normal>(p.slice(0, 3, 6), p.slice(0, 6, 9).exp()));
    return d.log_prob(x);
  };
  EXPECT_TRUE(at::allclose(autograd_gradient(lp, params), finite_difference_gradient(lp, params), 1e-6, 1e-6));
}

TEST(MixtureSameFamily, BroadcastsMixtureAndExpands) {
  // One set of weights shared by a (4, K=2) batch of components.
  MixtureSameFamily d(Categorical::from_probs(at::tensor({0.5, 0.5}, f64())),
                      std::make_shared<Normal>(at::zeros({4, 2}, f64()), 1.0));
  EXPECT_EQ(d.batch_shape(), (Shape{4}));
  auto e = d.expand({3, 4});
  EXPECT_EQ(e->batch_shape(), (Shape{3, 4}));
  EXPECT_EQ(e->sample({2}).sizes(), (at::IntArrayRef{2, 3, 4}));
  EXPECT_EQ(e->type_name(), "MixtureSameFamily");
}

TEST(MixtureSameFamily, SupportIsTheComponentsHull) {
  MixtureSameFamily d(Categorical::from_probs(at::tensor({0.5, 0.5}, f64())),
                      std::make_shared<Binomial>(Binomial::from_probs(at::tensor({3.0, 8.0}, f64()), 0.5)));
  EXPECT_EQ(d.support().name(), "integer_interval");
  EXPECT_TRUE(d.support().check(at::scalar_tensor(8.0, f64())).item<bool>());
  EXPECT_FALSE(d.support().check(at::scalar_tensor(9.0, f64())).item<bool>());
  EXPECT_NEAR(d.mean().item<double>(), 0.5 * 1.5 + 0.5 * 4.0, 1e-14);
}

TEST(MixtureSameFamily, RefusesRsampleAndBadArguments) {
  GaussianMixture g;
  auto d = g.dist();
  EXPECT_FALSE(d.has_rsample());
  EXPECT_TRUE(throws_error([&] { d.rsample({3}); }, "MixtureSameFamily: rsample is not available"));
  EXPECT_TRUE(throws_error(
      [] {
        MixtureSameFamily(Categorical::from_probs(at::tensor({0.5, 0.5}, f64())),
                          std::make_shared<Normal>(at::zeros({3}, f64()), 1.0));
      },
      "MixtureSameFamily: component batch shape (3) must end in the number of components 2"));
  EXPECT_TRUE(throws_error(
      [] {
        MixtureSameFamily(std::make_shared<Normal>(0.0, 1.0), std::make_shared<Normal>(at::zeros({3}, f64()), 1.0));
      },
      "MixtureSameFamily: mixture distribution must be a Categorical, got Normal"));
  EXPECT_TRUE(throws_error(
      [] {
        MixtureSameFamily(Categorical::from_probs(at::ones({3, 2}, f64())),
                          std::make_shared<Normal>(at::zeros({4, 2}, f64()), 1.0));
      },
      "MixtureSameFamily: mixture batch shape (3) does not broadcast with component batch shape (4)"));
}
