// Full-rank SVI on conjugate models against their exact posteriors. The guide starts from the
// prior's median (not the Laplace start, which is already exact for a Gaussian posterior), so
// these tests check the stochastic optimisation itself.
#include "amortize/dist/continuous/gamma.hpp"
#include "amortize/dist/continuous/normal.hpp"
#include "amortize/dist/discrete/poisson.hpp"
#include "amortize/infer/guides/auto_continuous.hpp"
#include "amortize/infer/predictive.hpp"
#include "amortize/infer/svi.hpp"
#include "amortize/model/param_store.hpp"
#include "amortize/model/primitives.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>

using namespace amortize;
using namespace amortize::model;

namespace {
at::TensorOptions f64() { return at::TensorOptions().dtype(at::kDouble); }

// Fits the full-rank guide and returns its (loc, covariance) in unconstrained space.
std::pair<Tensor, Tensor> fit_full_rank(const infer::Program& model, int64_t steps, double lr,
                                        std::shared_ptr<infer::AutoMultivariateNormal>* guide_out = nullptr) {
  auto guide = std::make_shared<infer::AutoMultivariateNormal>(model);
  infer::Svi svi(model, guide->program(), std::make_shared<infer::TraceElbo>(infer::ElboOptions{16}),
                 {lr, 11, std::pow(0.01, 1.0 / static_cast<double>(steps))});
  for (int64_t i = 0; i < steps; ++i) svi.step();
  if (guide_out) *guide_out = guide;
  auto [loc, cov] = guide->loc_covariance();
  return {loc.detach(), cov.detach()};
}

// Every mean within `mean_tol` exact sds and every covariance entry within `cov_tol` of the
// exact one, relative to the product of the exact sds.
::testing::AssertionResult gaussian_close(const Tensor& loc, const Tensor& cov, const Tensor& exact_loc,
                                          const Tensor& exact_cov, double mean_tol, double cov_tol) {
  Tensor sd = exact_cov.diagonal().sqrt();
  const double mean_error = ((loc - exact_loc).abs() / sd).max().item<double>();
  const double cov_error = ((cov - exact_cov).abs() / at::outer(sd, sd)).max().item<double>();
  if (mean_error <= mean_tol && cov_error <= cov_tol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "mean error " << mean_error << " sd (tolerance " << mean_tol
                                       << "), covariance error " << cov_error << " (tolerance " << cov_tol
                                       << ")\nloc " << loc << "\nexact " << exact_loc << "\ncov " << cov
                                       << "\nexact " << exact_cov;
}
}  // namespace

TEST(ConjugateAccuracy, NormalMeanWithKnownVariance) {
  Tensor x = at::linspace(-1.0, 3.0, 20, f64());
  infer::Program model = [&] {
    auto mu = sample("mu", dist::Normal(at::zeros({}, f64()), 2.0));
    auto data = plate("data", x.size(0));
    sample("x", dist::Normal(mu, 1.0), data, x);
  };
  ParamStore store;
  ParamStoreScope scope(store);
  auto [loc, cov] = fit_full_rank(model, 2000, 0.02);
  const double var = 1.0 / (0.25 + 20);
  EXPECT_TRUE(gaussian_close(loc, cov, at::full({1}, var * x.sum().item<double>(), f64()), at::full({1, 1}, var, f64()),
                        0.05, 0.1));
}

TEST(ConjugateAccuracy, BayesianLinearRegressionWithKnownNoise) {
  // Correlated predictors make the posterior covariance far from diagonal.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  const int64_t n = 50;
  Tensor base = at::randn({n, 1}, gen, f64());
  Tensor X = at::cat({at::ones({n, 1}, f64()), base, base * 0.8 + 0.6 * at::randn({n, 1}, gen, f64())}, 1);
  Tensor beta_true = at::tensor({0.5, -1.0, 2.0}, f64());
  const double noise = 0.5, prior_sd = 3.0;
  Tensor y = at::matmul(X, beta_true) + noise * at::randn({n}, gen, f64());
  infer::Program model = [&] {
    auto beta = sample("beta", dist::Normal(at::zeros({3}, f64()), prior_sd).to_event(1));
    auto data = plate("data", n);
    sample("y", dist::Normal((X * beta).sum(-1), noise), data, y);
  };
  Tensor precision = at::matmul(X.t(), X) / (noise * noise) + at::eye(3, f64()) / (prior_sd * prior_sd);
  Tensor exact_cov = at::inverse(precision);
  Tensor exact_loc = at::matmul(exact_cov, at::matmul(X.t(), y)) / (noise * noise);
  ParamStore store;
  ParamStoreScope scope(store);
  auto [loc, cov] = fit_full_rank(model, 8000, 0.02);
  EXPECT_TRUE(gaussian_close(loc, cov, exact_loc, exact_cov, 0.05, 0.1));
}

TEST(ConjugateAccuracy, GammaPoissonRateThroughItsLog) {
  // rate ~ Gamma(2, 0.5), y_i ~ Poisson(rate): the posterior is Gamma(2 + sum y, 0.5 + n). The
  // guide is Gaussian in log rate; with about 500 counts log-Gamma is Gaussian to within 0.1 %.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(9);
  Tensor y = at::poisson(at::full({100}, 5.0, f64()), gen);
  const double shape = 2.0 + y.sum().item<double>(), rate = 0.5 + 100;
  infer::Program model = [&] {
    auto lambda = sample("rate", dist::Gamma(at::full({}, 2.0, f64()), 0.5));
    auto data = plate("data", y.size(0));
    sample("y", dist::Poisson(lambda), data, y);
  };
  ParamStore store;
  ParamStoreScope scope(store);
  std::shared_ptr<infer::AutoMultivariateNormal> guide;
  fit_full_rank(model, 2000, 0.02, &guide);
  const int64_t n_draws = 20000;
  auto summary = infer::summarize(infer::posterior_draws(model, guide->program(), n_draws, 3));
  ASSERT_EQ(summary.size(), 1u);
  const double exact_mean = shape / rate, exact_sd = std::sqrt(shape) / rate;
  // Monte-Carlo error of the draws' mean is sd / sqrt(n); 4 of those plus 0.05 sd for the optimiser.
  EXPECT_NEAR(summary[0].mean, exact_mean, (4.0 / std::sqrt(double(n_draws)) + 0.05) * exact_sd);
  EXPECT_NEAR(summary[0].sd / exact_sd, 1.0, 0.1);
}
