#include "amortize/dist/kl/kl_divergence.hpp"
#include "amortize/dist/multivariate/low_rank_multivariate_normal.hpp"
#include "amortize/dist/multivariate/multivariate_normal.hpp"
#include "dense_gaussian_reference.hpp"
#include "numeric_checks.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace amortize;
using namespace amortize::dist;
using namespace amortize::testing;

namespace {
at::Tensor random_diag(std::vector<int64_t> shape, uint64_t seed) { return (0.5 * random_tensor(shape, seed)).exp(); }

// Four Gaussians on R^3 with batch shapes (2, 1) or (3): two dense, two low-rank.
struct Family {
  MultivariateNormal dense_a{random_tensor({2, 1, 3}, 1), random_scale_tril({2, 1}, 3, 2)};
  MultivariateNormal dense_b{random_tensor({3, 3}, 3), random_scale_tril({3}, 3, 4)};
  LowRankMultivariateNormal low_a{random_tensor({2, 1, 3}, 5), random_tensor({2, 1, 3, 2}, 6),
                                  random_diag({2, 1, 3}, 7)};
  LowRankMultivariateNormal low_b{random_tensor({3, 3}, 8), random_tensor({3, 3, 1}, 9), random_diag({3, 3}, 10)};
};

at::Tensor dense_cov(const Distribution& d) {
  if (auto* m = dynamic_cast<const MultivariateNormal*>(&d)) return m->covariance_matrix();
  return dynamic_cast<const LowRankMultivariateNormal&>(d).covariance_matrix();
}

std::vector<std::pair<const Distribution*, const Distribution*>> pairs(const Family& f) {
  return {{&f.dense_a, &f.dense_b}, {&f.low_a, &f.dense_b}, {&f.dense_a, &f.low_b}, {&f.low_a, &f.low_b}};
}
}  // namespace

TEST(MultivariateKL, AllPairsAreRegistered) {
  Family f;
  for (auto [p, q] : pairs(f)) EXPECT_TRUE(has_kl(*p, *q)) << p->type_name() << " || " << q->type_name();
}

TEST(MultivariateKL, MatchesDenseClosedFormWithBatchBroadcasting) {
  Family f;
  for (auto [p, q] : pairs(f)) {
    auto kl = kl_divergence(*p, *q);
    ASSERT_EQ(kl.sizes(), (at::IntArrayRef{2, 3})) << p->type_name() << " || " << q->type_name();
    auto expected = dense_kl(p->mean(), dense_cov(*p), q->mean(), dense_cov(*q));
    EXPECT_TRUE(at::allclose(kl, expected, 1e-9, 1e-9))
        << p->type_name() << " || " << q->type_name() << ": " << (kl - expected).abs().max();
  }
}

TEST(MultivariateKL, MatchesMonteCarloEstimate) {
  Family f;
  const int64_t n_draws = 100000;
  uint64_t seed = 100;
  for (auto [p, q] : pairs(f)) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed++);
    auto xs = p->sample({n_draws}, gen);
    auto log_ratio = p->log_prob(xs) - q->log_prob(xs);  // (N, 2, 3)
    auto estimate = log_ratio.mean(0);
    auto se = log_ratio.std(0) / std::sqrt(static_cast<double>(n_draws));
    auto kl = kl_divergence(*p, *q);
    EXPECT_TRUE(((kl - estimate).abs() <= kMonteCarloZ * se).all().item<bool>())
        << p->type_name() << " || " << q->type_name() << "\n"
        << kl << estimate << se;
  }
}

TEST(MultivariateKL, KLOfADistributionWithItselfIsZero) {
  Family f;
  auto dense_of_low = MultivariateNormal::from_covariance_matrix(f.low_a.loc(), f.low_a.covariance_matrix());
  std::vector<std::pair<const Distribution*, const Distribution*>> same = {
      {&f.dense_a, &f.dense_a}, {&f.low_a, &f.low_a}, {&f.low_a, &dense_of_low}, {&dense_of_low, &f.low_a}};
  for (auto [p, q] : same) {
    auto kl = kl_divergence(*p, *q);
    EXPECT_TRUE(at::allclose(kl, at::zeros_like(kl), 0, 1e-10)) << p->type_name() << " || " << q->type_name() << kl;
  }
}

TEST(MultivariateKL, GradientsMatchFiniteDifferences) {
  auto loc_p = random_tensor({3}, 20);
  auto tril_p = random_scale_tril({}, 3, 21);
  auto loc_q = random_tensor({3}, 22);
  auto w_q = random_tensor({3, 2}, 23);
  auto d_q = random_diag({3}, 24);
  auto check = [](const std::function<at::Tensor(const at::Tensor&)>& f, const at::Tensor& at_point) {
    auto analytic = autograd_gradient(f, at_point);
    auto numeric = finite_difference_gradient(f, at_point);
    EXPECT_TRUE(at::allclose(analytic, numeric, 1e-6, 1e-6)) << (analytic - numeric).abs().max();
  };
  auto kl = [&](const at::Tensor& lp, const at::Tensor& tp, const at::Tensor& lq, const at::Tensor& wq,
                const at::Tensor& dq) {
    return kl_divergence(MultivariateNormal(lp, tp.tril()), LowRankMultivariateNormal(lq, wq, dq));
  };
  check([&](const at::Tensor& t) { return kl(t, tril_p, loc_q, w_q, d_q); }, loc_p);
  check([&](const at::Tensor& t) { return kl(loc_p, t, loc_q, w_q, d_q); }, tril_p);
  check([&](const at::Tensor& t) { return kl(loc_p, tril_p, t, w_q, d_q); }, loc_q);
  check([&](const at::Tensor& t) { return kl(loc_p, tril_p, loc_q, t, d_q); }, w_q);
  check([&](const at::Tensor& t) { return kl(loc_p, tril_p, loc_q, w_q, t); }, d_q);
  auto w_p = random_tensor({3, 1}, 25);
  auto d_p = random_diag({3}, 26);
  check(
      [&](const at::Tensor& t) {
        return kl_divergence(LowRankMultivariateNormal(loc_p, t, d_p), LowRankMultivariateNormal(loc_q, w_q, d_q));
      },
      w_p);
  check(
      [&](const at::Tensor& t) {
        return kl_divergence(LowRankMultivariateNormal(loc_p, w_p, t), MultivariateNormal(loc_q, tril_p));
      },
      d_p);
}

TEST(MultivariateKL, Float32Works) {
  Family f;
  MultivariateNormal p(f.dense_a.loc().to(at::kFloat), f.dense_a.scale_tril().to(at::kFloat));
  LowRankMultivariateNormal q(f.low_b.loc().to(at::kFloat), f.low_b.cov_factor().to(at::kFloat),
                              f.low_b.cov_diag().to(at::kFloat));
  auto kl = kl_divergence(p, q);
  EXPECT_EQ(kl.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::allclose(kl.to(at::kDouble), kl_divergence(f.dense_a, f.low_b), 1e-4, 1e-4));
}

TEST(MultivariateKL, RejectsMismatchedShapes) {
  MultivariateNormal p(at::zeros({2}, f64()), at::eye(2, f64()));
  MultivariateNormal q(at::zeros({3}, f64()), at::eye(3, f64()));
  EXPECT_THROW(kl_divergence(p, q), DistributionError);
  MultivariateNormal batch_2(at::zeros({2, 3}, f64()), at::eye(3, f64()));
  MultivariateNormal batch_4(at::zeros({4, 3}, f64()), at::eye(3, f64()));
  try {
    kl_divergence(batch_2, batch_4);
    FAIL() << "expected an error";
  } catch (const DistributionError& e) {
    EXPECT_NE(std::string(e.what()).find("kl_divergence: batch shapes (2) of MultivariateNormal and (4) of "
                                         "MultivariateNormal do not broadcast"),
              std::string::npos)
        << e.what();
  }
}
