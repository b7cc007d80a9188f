#include "amortize/dist/continuous/gamma.hpp"
#include "amortize/dist/continuous/normal.hpp"
#include "amortize/dist/independent.hpp"
#include "amortize/dist/kl/kl_divergence.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>

using namespace amortize;
using namespace amortize::dist;

namespace {
at::TensorOptions f64() { return at::TensorOptions().dtype(at::kDouble); }
}  // namespace

TEST(KlRegistry, NormalNormalMatchesMonteCarlo) {
  Normal p(at::tensor({0.3, -1.0}, f64()), at::tensor({0.7, 2.0}, f64()));
  Normal q(at::tensor({1.0, 0.5}, f64()), at::tensor({1.5, 0.4}, f64()));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(21);
  const int64_t n = 200000;
  auto x = p.sample({n}, gen);
  auto terms = p.log_prob(x) - q.log_prob(x);
  auto mc = terms.mean(0);
  auto se = terms.std(0) / std::sqrt(static_cast<double>(n));
  auto exact = kl_divergence(p, q);
  EXPECT_TRUE(((exact - mc).abs() <= 4 * se).all().item<bool>()) << exact << mc << se;
  EXPECT_NEAR(kl_divergence(p, p).abs().max().item<double>(), 0.0, 1e-14);
}

TEST(KlRegistry, IndependentSumsOverReinterpretedDims) {
  Normal p(at::tensor({0.3, -1.0}, f64()), at::tensor({0.7, 2.0}, f64()));
  Normal q(at::tensor({1.0, 0.5}, f64()), at::tensor({1.5, 0.4}, f64()));
  auto kl = kl_divergence(*p.to_event(1), *q.to_event(1));
  EXPECT_EQ(kl.dim(), 0);
  EXPECT_NEAR(kl.item<double>(), kl_divergence(p, q).sum().item<double>(), 1e-14);
  EXPECT_TRUE(has_kl(*p.to_event(1), *q.to_event(1)));
}

TEST(KlRegistry, PairWithoutClosedFormNamesBothTypes) {
  Normal p(0.0, 1.0);
  Gamma q(2.0, 1.0);
  EXPECT_FALSE(has_kl(p, q));
  try {
    kl_divergence(p, q);
    FAIL() << "expected an error";
  } catch (const DistributionError& e) {
    EXPECT_NE(std::string(e.what()).find("no closed form for KL(Normal || Gamma)"), std::string::npos) << e.what();
  }
}
