// GRE: the closed-form posterior against dense linear algebra, the model's log joint against a
// hand computation, and the data generator's reproducibility.
#include "amortize/pavi/gre.hpp"
#include "amortize/model/handlers.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace amortize;
using namespace amortize::pavi;

namespace {
// Joint posterior of (mu, mu_1..mu_G) for one coordinate d, from the dense precision matrix.
std::pair<Tensor, Tensor> dense_posterior(const Tensor& x, int64_t d, const GreScales& s, bool mean_field) {
  const int64_t g = x.size(0);
  const double n = static_cast<double>(x.size(1));
  const double v0 = s.mu * s.mu, v1 = s.group * s.group, v2 = s.obs * s.obs;
  auto f64 = at::TensorOptions().dtype(at::kDouble);
  Tensor prec = at::zeros({g + 1, g + 1}, f64);
  Tensor h = at::zeros({g + 1}, f64);
  prec[0][0] += 1.0 / v0;
  Tensor xsum = x.to(at::kDouble).select(2, d).sum(1);
  for (int64_t i = 1; i <= g; ++i) {
    prec[0][0] += 1.0 / v1;
    prec[i][i] += 1.0 / v1 + n / v2;
    prec[0][i] -= 1.0 / v1;
    prec[i][0] -= 1.0 / v1;
    h[i] = xsum[i - 1] / v2;
  }
  Tensor cov = at::inverse(prec);
  Tensor mean = at::mv(cov, h);
  Tensor sd = mean_field ? prec.diagonal().rsqrt() : cov.diagonal().sqrt();
  return {mean, sd};
}
}  // namespace

TEST(Gre, ExactPosteriorMatchesDenseLinearAlgebra) {
  GreScales scales{0.7, 0.4, 0.3};
  auto data = generate_gre({6, 3, 2, 11, scales, at::TensorOptions().dtype(at::kDouble)});
  for (bool mean_field : {false, true}) {
    auto post = mean_field ? gre_mean_field_optimum(data.x, scales) : gre_exact_posterior(data.x, scales);
    for (int64_t d = 0; d < 2; ++d) {
      auto [mean, sd] = dense_posterior(data.x, d, scales, mean_field);
      EXPECT_NEAR(post.mu_mean[d].item<double>(), mean[0].item<double>(), 1e-10);
      EXPECT_NEAR(post.mu_sd[d].item<double>(), sd[0].item<double>(), 1e-10);
      EXPECT_TRUE(at::allclose(post.mu_g_mean.select(1, d), mean.narrow(0, 1, 6), 1e-9, 1e-12));
      EXPECT_TRUE(at::allclose(post.mu_g_sd.select(1, d), sd.narrow(0, 1, 6), 1e-9, 1e-12));
    }
  }
}

TEST(Gre, GeneratorIsReproducibleAndKeepsTheDtype) {
  auto a = generate_gre({5, 4, 2, 3, {}, at::TensorOptions().dtype(at::kFloat)});
  auto b = generate_gre({5, 4, 2, 3, {}, at::TensorOptions().dtype(at::kFloat)});
  auto c = generate_gre({5, 4, 2, 4, {}, at::TensorOptions().dtype(at::kFloat)});
  EXPECT_TRUE(at::equal(a.x, b.x));
  EXPECT_FALSE(at::equal(a.x, c.x));
  EXPECT_EQ(a.x.sizes(), (std::vector<int64_t>{5, 4, 2}));
  EXPECT_EQ(a.x.scalar_type(), at::kFloat);
  EXPECT_EQ(generate_gre({5, 4, 2, 3, {}, at::TensorOptions().dtype(at::kDouble)}).x.scalar_type(), at::kDouble);
}

TEST(Gre, ModelLogJointMatchesAHandComputationAndScalesItsBatch) {
  GreScales scales;
  auto data = generate_gre({8, 3, 2, 5, scales, at::TensorOptions().dtype(at::kDouble)});
  auto normal_lp = [](const Tensor& v, const Tensor& m, double s) {
    return (-0.5 * ((v - m) / s).square() - std::log(s) - 0.5 * std::log(2 * M_PI)).sum();
  };
  for (int64_t batch : {8, 2}) {
    model::TraceHandler tracer;
    {
      model::SeedHandler seed(3);
      GreModel{data.x, batch, scales}();
    }
    const auto& tr = tracer.trace();
    Tensor mu = tr.at("mu").value, mu_g = tr.at("mu_g").value;
    Tensor idx = tr.at("groups").value;
    ASSERT_EQ(mu_g.sizes(), (std::vector<int64_t>{batch, 2}));
    const double scale = 8.0 / static_cast<double>(batch);
    Tensor expected =
        normal_lp(mu, at::zeros_like(mu), scales.mu) +
        scale * (normal_lp(mu_g, mu.expand_as(mu_g), scales.group) +
                 normal_lp(data.x.index_select(0, idx), mu_g.unsqueeze(1).expand({batch, 3, 2}), scales.obs));
    EXPECT_NEAR(tr.log_prob_sum().item<double>(), expected.item<double>(), 1e-9);
  }
}

TEST(Gre, LogEvidenceMatchesTheDenseMultivariateNormal) {
  GreScales scales{0.7, 0.4, 0.3};
  auto data = generate_gre({4, 3, 2, 12, scales, at::TensorOptions().dtype(at::kDouble)});
  // Per dim, x (G * N values) ~ N(0, v0 11' + v1 blockdiag(J) + v2 I).
  const int64_t m = 12;
  Tensor cov = at::full({m, m}, scales.mu * scales.mu, at::TensorOptions().dtype(at::kDouble));
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < m; ++j) {
      if (i / 3 == j / 3) cov[i][j] += scales.group * scales.group;
    }
    cov[i][i] += scales.obs * scales.obs;
  }
  double expected = 0;
  for (int64_t d = 0; d < 2; ++d) {
    Tensor v = data.x.select(2, d).reshape({m});
    expected += (-0.5 * m * std::log(2 * M_PI) - 0.5 * std::get<1>(at::linalg_slogdet(cov)) -
                 0.5 * at::dot(v, at::mv(at::inverse(cov), v)))
                    .item<double>();
  }
  EXPECT_NEAR(gre_log_evidence(data.x, scales), expected, 1e-9);
}
