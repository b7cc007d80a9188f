#include "amortize/dist/continuous/beta.hpp"
#include "amortize/dist/continuous/dirichlet.hpp"
#include "amortize/dist/continuous/gamma.hpp"
#include "amortize/dist/kl/kl_divergence.hpp"
#include "assertions.hpp"
#include "gamma_family_reference.hpp"
#include "numeric_checks.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace amortize;
using namespace amortize::dist;
using namespace amortize::testing;

namespace {
// Every element of KL(p, q) matches E_p[log p - log q] by Monte Carlo, reduced over the sample
// dimension only; fails at the first element off.
::testing::AssertionResult kl_matches_monte_carlo(const Distribution& p, const Distribution& q, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto xs = p.sample({200000}, gen);
  auto diff = p.log_prob(xs) - q.log_prob(xs);
  auto kl = kl_divergence(p, q);
  auto flat_diff = diff.reshape({diff.size(0), -1});
  auto flat_kl = kl.expand(diff.sizes().slice(1)).reshape(-1);
  for (int64_t i = 0; i < flat_kl.numel(); ++i) {
    auto est = monte_carlo(flat_diff.select(1, i));
    auto element = is_near(flat_kl[i].item<double>(), est.mean, kMonteCarloZ * est.standard_error);
    if (!element) return element << " (" << p.type_name() << " element " << i << ", closed form vs Monte Carlo)";
  }
  return ::testing::AssertionSuccess();
}
}  // namespace

TEST(GammaFamilyKL, GammaMatchesClosedFormAndMonteCarlo) {
  const double a1 = 0.7, b1 = 2.0, a2 = 3.0, b2 = 0.5;
  const double expected = (a1 - a2) * digamma_ref(a1) - std::lgamma(a1) + std::lgamma(a2) +
                          a2 * (std::log(b1) - std::log(b2)) + a1 * (b2 - b1) / b1;
  Gamma p(at::scalar_tensor(a1, f64()), b1);
  Gamma q(at::scalar_tensor(a2, f64()), b2);
  EXPECT_NEAR(kl_divergence(p, q).item<double>(), expected, 1e-12);
  Gamma pb(at::tensor({0.7, 4.0, 20.0}, f64()), at::tensor({2.0, 1.0, 3.0}, f64()));
  EXPECT_TRUE(kl_matches_monte_carlo(pb, q, 51));
  EXPECT_TRUE(at::allclose(kl_divergence(pb, pb), at::zeros({3}, f64()), 0, 1e-13));
}

TEST(GammaFamilyKL, BetaMatchesMonteCarloAndBroadcasts) {
  Beta p(at::tensor({0.5, 2.0, 30.0}, f64()), at::tensor({0.8, 5.0, 10.0}, f64()));
  Beta q(at::scalar_tensor(1.5, f64()), 2.0);
  EXPECT_EQ(kl_divergence(p, q).sizes(), (at::IntArrayRef{3}));
  EXPECT_TRUE(kl_matches_monte_carlo(p, q, 53));
  EXPECT_TRUE(at::allclose(kl_divergence(p, p), at::zeros({3}, f64()), 0, 1e-12));
}

TEST(GammaFamilyKL, DirichletMatchesMonteCarlo) {
  Dirichlet p(at::tensor({0.5, 1.0, 4.0, 3.0, 3.0, 3.0}, f64()).reshape({2, 3}));
  Dirichlet q(at::tensor({2.0, 0.7, 1.0}, f64()));
  EXPECT_EQ(kl_divergence(p, q).sizes(), (at::IntArrayRef{2}));
  EXPECT_TRUE(kl_matches_monte_carlo(p, q, 59));
  EXPECT_TRUE(at::allclose(kl_divergence(q, q), at::zeros({}, f64()), 0, 1e-13));
}

TEST(GammaFamilyKL, IsDifferentiableAndRegisteredForExactlyTheSameFamily) {
  auto a = at::tensor({2.0}, f64()).requires_grad_(true);
  kl_divergence(Gamma(a, 1.0), Gamma(1.0, 1.0)).sum().backward();
  // d/da KL(Gamma(a,1)||Gamma(1,1)) = (a - 1) psi'(a). ATen's trigamma (the backward of
  // digamma) shifts the argument up by 6 and truncates its asymptotic series after the 1/(42 x^7)
  // term, an error of 1/(30 x^9) = 2.5e-10 at a = 2.
  EXPECT_NEAR(a.grad().item<double>(), (2.0 - 1) * amortize::testing::trigamma_ref(2.0), 1e-9);
  EXPECT_NEAR(amortize::testing::trigamma_ref(2.0), M_PI * M_PI / 6 - 1, 1e-14);
  EXPECT_TRUE(has_kl(Gamma(1.0, 1.0), Gamma(2.0, 1.0)));
  EXPECT_TRUE(has_kl(Beta(1.0, 1.0), Beta(2.0, 1.0)));
  EXPECT_TRUE(has_kl(Dirichlet(at::ones({2}, f64())), Dirichlet(at::ones({2}, f64()))));
  EXPECT_FALSE(has_kl(Gamma(1.0, 1.0), Beta(2.0, 1.0)));
  EXPECT_THROW(kl_divergence(Dirichlet(at::ones({2}, f64())), Dirichlet(at::ones({3}, f64()))), DistributionError);
}
