#include "amortize/dist/discrete/categorical.hpp"

#include "discrete_test_support.hpp"

#include <cmath>
#include <limits>

using namespace amortize;
using namespace amortize::dist;
using namespace amortize::testing;

TEST(Categorical, LogProbFromProbsNormalisesWeights) {
  auto weights = matrix({{1.0, 3.0, 0.0, 4.0}, {0.25, 0.25, 0.25, 0.25}}, f64());
  auto d = Categorical::from_probs(weights);
  EXPECT_EQ(d.batch_shape(), (Shape{2}));
  EXPECT_EQ(d.event_shape(), (Shape{}));
  EXPECT_EQ(d.num_categories(), 4);
  const double expected[2][4] = {{std::log(1 / 8.0), std::log(3 / 8.0), -INFINITY, std::log(0.5)},
                                 {std::log(0.25), std::log(0.25), std::log(0.25), std::log(0.25)}};
  for (int64_t k = 0; k < 4; ++k) {
    auto lp = d.log_prob(at::full({2}, static_cast<double>(k), f64()));
    for (int64_t b = 0; b < 2; ++b) {
      if (std::isinf(expected[b][k])) {
        EXPECT_EQ(lp[b].item<double>(), expected[b][k]);
      } else {
        EXPECT_NEAR(lp[b].item<double>(), expected[b][k], 1e-14);
      }
    }
  }
}

TEST(Categorical, LogProbFromLogitsIsLogSoftmaxAtExtremes) {
  const std::vector<double> logits = {100.0, -100.0, 0.0, 99.0, -INFINITY};
  auto d = Categorical::from_logits(at::tensor(logits, f64()));
  // Stable log-sum-exp in double.
  double m = 100.0, s = 0.0;
  for (double l : logits) s += std::exp(l - m);
  const double lse = m + std::log(s);
  for (size_t k = 0; k < logits.size(); ++k) {
    const double lp = d.log_prob(at::scalar_tensor(static_cast<double>(k), f64())).item<double>();
    if (std::isinf(logits[k])) {
      EXPECT_EQ(lp, -INFINITY);
    } else {
      EXPECT_NEAR(lp, logits[k] - lse, 1e-12 * std::abs(logits[k] - lse) + 1e-15);
    }
  }
  auto f = Categorical::from_logits(at::tensor(logits, at::kFloat));
  EXPECT_NEAR(f.log_prob(at::scalar_tensor(1.0, at::kFloat)).item<float>(), -100.0 - lse, 1e-4);
  EXPECT_TRUE(std::isfinite(f.entropy().item<float>()));
  EXPECT_TRUE(std::isfinite(d.entropy().item<double>()));
}

TEST(Categorical, AcceptsInt64AndFloatIndicesAndBroadcasts) {
  auto d = Categorical::from_logits(matrix({{0.1, 0.2, 0.7}, {1.0, -1.0, 0.0}}, f64()));
  auto as_long = d.log_prob(matrix({{2, 0}, {1, 1}, {0, 2}}, at::kLong));
  auto as_double = d.log_prob(matrix({{2.0, 0.0}, {1.0, 1.0}, {0.0, 2.0}}, f64()));
  EXPECT_EQ(as_long.sizes(), (at::IntArrayRef{3, 2}));
  EXPECT_EQ(as_long.scalar_type(), at::kDouble);
  EXPECT_TRUE(at::equal(as_long, as_double));
  // A value of shape (4, 1) broadcasts against batch (2).
  EXPECT_EQ(d.log_prob(at::zeros({4, 1}, f64())).sizes(), (at::IntArrayRef{4, 2}));
  auto ls = at::log_softmax(at::tensor({1.0, -1.0, 0.0}, f64()), 0);
  EXPECT_NEAR(as_long[2][1].item<double>(), ls[2].item<double>(), 1e-15);
}

TEST(Categorical, GradientsMatchFiniteDifferences) {
  auto value = at::tensor({2.0, 0.0, 1.0}, f64());
  auto logits = at::tensor({0.3, -1.2, 2.0, 0.5}, f64());
  auto lp_l = [&](const at::Tensor& l) { return Categorical::from_logits(l.reshape({1, 4})).log_prob(value); };
  EXPECT_TRUE(at::allclose(autograd_gradient(lp_l, logits), finite_difference_gradient(lp_l, logits), 1e-6, 1e-6));
  auto probs = at::tensor({0.1, 0.4, 0.3, 0.2}, f64());
  auto lp_p = [&](const at::Tensor& p) { return Categorical::from_probs(p).log_prob(value); };
  EXPECT_TRUE(at::allclose(autograd_gradient(lp_p, probs), finite_difference_gradient(lp_p, probs), 1e-6, 1e-6));
  auto ent = [&](const at::Tensor& l) { return Categorical::from_logits(l).entropy(); };
  EXPECT_TRUE(at::allclose(autograd_gradient(ent, logits), finite_difference_gradient(ent, logits), 1e-6, 1e-6));
}

TEST(Categorical, GradientWithAZeroProbabilityIsFinite) {
  // d/dp_j log(p_k / sum p) = [j = k] / p_k - 1 / sum p, also at p_j = 0.
  auto lp = [](const at::Tensor& p) { return Categorical::from_probs(p).log_prob(at::scalar_tensor(2.0, f64())); };
  auto grad = autograd_gradient(lp, at::tensor({0.2, 0.0, 0.8}, f64()));
  EXPECT_TRUE(at::allclose(grad, at::tensor({-1.0, -1.0, 0.25}, f64()), 1e-14, 1e-14)) << grad;
}

TEST(Categorical, SampleFrequenciesMatchProbabilities) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  const std::vector<double> row0 = {0.05, 0.0, 0.5, 0.45};
  const std::vector<double> row1 = {0.25, 0.25, 0.25, 0.25};
  auto d = Categorical::from_probs(at::stack({at::tensor(row0, at::kFloat), at::tensor(row1, at::kFloat)}));
  auto xs = d.sample({200, 100}, gen);
  EXPECT_EQ(xs.sizes(), (at::IntArrayRef{200, 100, 2}));
  EXPECT_EQ(xs.scalar_type(), at::kFloat);
  EXPECT_TRUE(frequencies_match(xs.select(2, 0), row0));
  EXPECT_TRUE(frequencies_match(xs.select(2, 1), row1));
  EXPECT_TRUE(at::equal(xs, d.sample({200, 100}, at::make_generator<at::CPUGeneratorImpl>(5))));
  EXPECT_EQ(d.sample({}, gen).sizes(), (at::IntArrayRef{2}));
}

TEST(Categorical, IndexMomentsAndEntropyMatchClosedForm) {
  const std::vector<double> p = {0.1, 0.0, 0.6, 0.3};
  auto d = Categorical::from_probs(at::tensor(p, f64()));
  double mean = 0, second = 0, h = 0;
  for (size_t k = 0; k < p.size(); ++k) {
    mean += k * p[k];
    second += k * k * p[k];
    if (p[k] > 0) h -= p[k] * std::log(p[k]);
  }
  EXPECT_NEAR(d.mean().item<double>(), mean, 1e-14);
  EXPECT_NEAR(d.variance().item<double>(), second - mean * mean, 1e-14);
  EXPECT_NEAR(d.entropy().item<double>(), h, 1e-14);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(6);
  EXPECT_TRUE(moments_match(d.sample({40000}, gen), mean, second - mean * mean));
}

TEST(Categorical, EnumerateSupportCoversTheMass) {
  auto d = Categorical::from_logits(at::randn({2, 3, 5}, f64()));
  auto values = d.enumerate_support();
  EXPECT_EQ(values.sizes(), (at::IntArrayRef{5, 2, 3}));
  EXPECT_EQ(d.enumerate_support(false).sizes(), (at::IntArrayRef{5, 1, 1}));
  EXPECT_TRUE(at::allclose(d.log_prob(values).exp().sum(0), at::ones({2, 3}, f64()), 1e-14, 1e-14));
  EXPECT_EQ(values[4][1][2].item<double>(), 4.0);
}

TEST(Categorical, ExpandsOverBatch) {
  auto d = Categorical::from_probs(at::tensor({0.2, 0.8}, f64()));
  auto e = d.expand({3});
  EXPECT_EQ(e->batch_shape(), (Shape{3}));
  EXPECT_TRUE(at::allclose(e->mean(), at::full({3}, 0.8, f64())));
  EXPECT_TRUE(throws_error([&] { e->expand({2}); }, "Categorical: cannot expand batch shape (3) to (2)"));
}

TEST(Categorical, RejectsBadArgumentsNamingThem) {
  EXPECT_TRUE(throws_error(
      [] {
        Categorical::from_probs(matrix({{0.5, 0.6, -0.1}}, f64()));
      },
      "Categorical: probs must be non-negative, got -0.1 at index [0, 2]"));
  EXPECT_TRUE(throws_error([] { Categorical::from_probs(at::zeros({3}, f64())); },
                           "Categorical: probs must have a positive sum"));
  EXPECT_TRUE(throws_error(
      [] {
        Categorical::from_logits(at::tensor({0.0, NAN}, f64()));
      },
      "Categorical: logits must not be NaN, got nan at index [1]"));
  EXPECT_TRUE(
      throws_error([] { Categorical::from_logits(1.0); }, "Categorical: logits must have at least one dimension"));
  auto d = Categorical::from_probs(at::tensor({0.2, 0.3, 0.5}, f64()));
  EXPECT_TRUE(throws_error([&] { d.log_prob(at::scalar_tensor(3.0, f64())); },
                           "Categorical: value outside the support integer_interval"));
  EXPECT_TRUE(throws_error([&] { d.log_prob(at::tensor({-1}, at::kLong)); },
                           "Categorical: value outside the support integer_interval"));
  EXPECT_TRUE(throws_error([&] { d.log_prob(at::scalar_tensor(1.5, f64())); },
                           "Categorical: value outside the support integer_interval"));
}
