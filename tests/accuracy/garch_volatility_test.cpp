// The zoo's GARCH(1,1) model computes its volatilities in closed form (one logcumsumexp);
// they must equal the model's defining recursion, with and without a particle dimension.
#include "amortize/dist/continuous/normal.hpp"
#include "amortize/model/handlers.hpp"
#include "posteriordb_reference.hpp"
#include "zoo.hpp"

#include <gtest/gtest.h>

using namespace amortize;

namespace {
const std::string kGarch = "garch-garch11";
// The closed form adds and removes t log b, up to 100 * 708 at b = 0 (log b floored at the
// log of the smallest double): its ulp, 1.5e-11, bounds the relative error of sigma^2.
constexpr double kRelTol = 2e-11;

// sigma_1 = sigma1, sigma_t = sqrt(alpha0 + alpha1 (y_{t-1} - mu)^2 + beta1 sigma_{t-1}^2).
std::vector<double> recursion(const Tensor& y, double sigma1, double mu, double alpha0, double alpha1, double beta1) {
  std::vector<double> sigma{sigma1};
  for (int64_t t = 1; t < y.size(0); ++t) {
    const double e = y[t - 1].item<double>() - mu;
    sigma.push_back(std::sqrt(alpha0 + alpha1 * e * e + beta1 * sigma.back() * sigma.back()));
  }
  return sigma;
}

// The scale of the model's likelihood site at the given unconstrained-free values, (K, T).
Tensor model_volatility(const model::ValueMap& values) {
  auto data = io::DataFile::read(models::posteriordb_dir(kGarch) + "/data.json");
  auto program = models::find_model(kGarch).make(data, at::TensorOptions().dtype(at::kDouble));
  model::TraceHandler tracer;
  model::SubstituteHandler substitute(values);
  program();
  const auto& normal = dynamic_cast<const dist::Normal&>(*tracer.trace().at("y").dist);
  return normal.scale().expand(normal.batch_shape()).reshape({-1, normal.batch_shape().back()});
}
}  // namespace

TEST(GarchVolatility, ClosedFormEqualsTheRecursionPerParticle) {
  auto data = io::DataFile::read(models::posteriordb_dir(kGarch) + "/data.json");
  const Tensor y = data.vector("y", data.integer("T")).to(at::kDouble);
  const double sigma1 = data.real("sigma1");
  // Three particles (shape (3, 1) as under the ELBO's particle plate); the last has beta1 = 0.
  const std::vector<double> mu{5.0, -1.0, 0.3}, alpha0{0.5, 2.0, 1e-3}, alpha1{0.2, 0.9, 0.5}, fraction{0.7, 0.05, 0.0};
  auto column = [](const std::vector<double>& v) { return at::tensor(v, at::kDouble).reshape({3, 1}); };
  Tensor sigma = model_volatility({{"mu", column(mu)},
                                   {"alpha0", column(alpha0)},
                                   {"alpha1", column(alpha1)},
                                   {"beta1_fraction", column(fraction)}});
  ASSERT_EQ(sigma.size(0), 3);
  for (int64_t k = 0; k < 3; ++k) {
    const auto expected = recursion(y, sigma1, mu[k], alpha0[k], alpha1[k], (1 - alpha1[k]) * fraction[k]);
    ASSERT_EQ(sigma.size(1), static_cast<int64_t>(expected.size()));
    for (size_t t = 0; t < expected.size(); ++t) {
      EXPECT_NEAR(sigma[k][t].item<double>(), expected[t], kRelTol * expected[t]) << "particle " << k << ", t " << t;
    }
  }
}

TEST(GarchVolatility, ScalarParametersGiveOneSeries) {
  auto data = io::DataFile::read(models::posteriordb_dir(kGarch) + "/data.json");
  const Tensor y = data.vector("y", data.integer("T")).to(at::kDouble);
  auto scalar = [](double v) { return at::scalar_tensor(v, at::kDouble); };
  Tensor sigma = model_volatility(
      {{"mu", scalar(5.0)}, {"alpha0", scalar(1.0)}, {"alpha1", scalar(0.5)}, {"beta1_fraction", scalar(0.6)}});
  const auto expected = recursion(y, data.real("sigma1"), 5.0, 1.0, 0.5, 0.5 * 0.6);
  ASSERT_EQ(sigma.numel(), static_cast<int64_t>(expected.size()));
  for (size_t t = 0; t < expected.size(); ++t)
    EXPECT_NEAR(sigma[0][t].item<double>(), expected[t], kRelTol * expected[t]);
}
