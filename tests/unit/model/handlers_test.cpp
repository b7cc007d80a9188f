#include "amortize/model/handlers.hpp"
#include "amortize/dist/continuous/normal.hpp"
#include "amortize/model/param_store.hpp"
#include "amortize/model/primitives.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace amortize;
using namespace amortize::model;
using amortize::dist::Normal;

namespace {
at::TensorOptions f64() { return at::TensorOptions().dtype(at::kDouble); }

// The design document's example: eight schools, non-centred.
void eight_schools(const Tensor& y, const Tensor& sigma) {
  auto mu = sample("mu", Normal(at::zeros({}, f64()), 5.));
  auto tau = sample("tau", Normal(at::zeros({}, f64()), 5.));  // half-Cauchy once available
  auto schools = plate("schools", y.size(0));
  auto theta = mu + tau.abs() * sample("theta_trans", Normal(at::zeros({}, f64()), 1.), schools);
  sample("y", Normal(theta, sigma), schools, y);
}

Tensor eight_y() { return at::tensor({28., 8., -3., 7., -1., 1., 18., 12.}, f64()); }
Tensor eight_sigma() { return at::tensor({15., 10., 16., 11., 9., 11., 10., 18.}, f64()); }
}  // namespace

TEST(Trace, RecordsEverySiteInOrderWithPlates) {
  SeedHandler seed(1);
  TraceHandler tr;
  eight_schools(eight_y(), eight_sigma());
  const auto& sites = tr.trace().sites();
  ASSERT_EQ(sites.size(), 5u);  // plate, mu, tau, theta_trans, y
  EXPECT_EQ(sites[0].name, "mu");
  EXPECT_EQ(sites[2].kind, SiteKind::Plate);
  const Site& theta = tr.trace().at("theta_trans");
  EXPECT_FALSE(theta.observed);
  EXPECT_EQ(theta.value.sizes(), (at::IntArrayRef{8}));
  ASSERT_EQ(theta.plates.size(), 1u);
  EXPECT_EQ(theta.plates[0].name, "schools");
  EXPECT_TRUE(tr.trace().at("y").observed);
  EXPECT_TRUE(at::equal(tr.trace().at("y").value, eight_y()));
}

TEST(Trace, LogProbSumMatchesHandComputation) {
  SeedHandler seed(3);
  TraceHandler tr;
  eight_schools(eight_y(), eight_sigma());
  const auto& t = tr.trace();
  auto mu = t.at("mu").value, tau = t.at("tau").value, eta = t.at("theta_trans").value;
  auto expected = Normal(at::zeros({}, f64()), 5.).log_prob(mu) + Normal(at::zeros({}, f64()), 5.).log_prob(tau) +
                  Normal(at::zeros({}, f64()), 1.).log_prob(eta).sum() +
                  Normal(mu + tau.abs() * eta, eight_sigma()).log_prob(eight_y()).sum();
  EXPECT_NEAR(t.log_prob_sum().item<double>(), expected.item<double>(), 1e-10);
}

TEST(Trace, DuplicateSiteNameIsAnError) {
  TraceHandler tr;
  sample("x", Normal(0., 1.));
  try {
    sample("x", Normal(0., 1.));
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("site 'x' appears twice"), std::string::npos);
  }
}

TEST(Plate, ValueOfWrongShapeNamesPlateAndShapes) {
  TraceHandler tr;
  auto p = plate("schools", 8);
  try {
    sample("y", Normal(0., 1.), p, at::zeros({3}));
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("site 'y': value of shape (3) does not fit plate 'schools' of size 8"),
              std::string::npos)
        << e.what();
  }
  try {
    sample("z", Normal(at::zeros({3}), 1.), p);
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("site 'z': batch shape (3) does not fit plate 'schools'"), std::string::npos)
        << e.what();
  }
}

TEST(Plate, ExplicitIndicesOutsideThePlateOrOfTheWrongTypeAreRefused) {
  auto refused = [](const Tensor& indices, const std::string& message) {
    try {
      plate("data", 5, indices);
      ADD_FAILURE() << "accepted " << indices;
    } catch (const ModelError& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  };
  const auto longs = at::TensorOptions().dtype(at::kLong);
  refused(at::tensor({0, 5}, longs), "plate 'data': indices must lie in 0..4, got 5");
  refused(at::tensor({-1, 2}, longs), "plate 'data': indices must lie in 0..4, got -1");
  refused(at::tensor({0., 1.}), "plate 'data': indices must be a non-empty 1-D long tensor");
  refused(at::zeros({2, 2}, longs), "plate 'data': indices must be a non-empty 1-D long tensor");
  refused(at::zeros({0}, longs), "plate 'data': indices must be a non-empty 1-D long tensor");
  // A draw with replacement may repeat an element; a strided view is read in its own order.
  EXPECT_EQ(plate("data", 5, at::tensor({3, 3, 0}, longs)).subsample_size(), 3);
  EXPECT_EQ(plate("data", 5, at::tensor({4, 9, 1, 9}, longs).slice(0, 0, 4, 2)).subsample_size(), 2);
}

TEST(Plate, NestedPlatesOwnTheirDimensions) {
  SeedHandler seed(0);
  TraceHandler tr;
  {
    auto outer = plate("outer", 3);
    auto inner = plate("inner", 4);
    EXPECT_EQ(outer.dim(), -1);
    EXPECT_EQ(inner.dim(), -2);
    sample("x", Normal(0., 1.));
  }
  EXPECT_EQ(tr.trace().at("x").value.sizes(), (at::IntArrayRef{4, 3}));
}

TEST(Plate, SubsampleScalesLogDensityAndReplaysIndices) {
  Trace guide_trace;
  {
    TraceHandler guide_tr;
    SeedHandler seed(7);
    auto p = plate("data", 100, 10);
    EXPECT_EQ(p.indices().numel(), 10);
    EXPECT_EQ(std::get<0>(at::_unique(p.indices())).numel(), 10);
    sample("z", Normal(0., 1.), p);
    guide_trace = guide_tr.trace();
  }
  const Site& z = guide_trace.at("z");
  EXPECT_DOUBLE_EQ(z.scale, 10.0);
  EXPECT_NEAR(z.scaled_log_prob_sum().item<double>(), 10.0 * z.log_prob().sum().item<double>(), 1e-4);
  // A model replayed against this trace sees the same subsample.
  ReplayHandler replay(guide_trace);
  SeedHandler other_seed(99);
  auto p2 = plate("data", 100, 10);
  EXPECT_TRUE(at::equal(p2.indices(), guide_trace.at("data").value));
}

TEST(Plate, SubsampledLogLikelihoodIsUnbiased) {
  // E over random subsamples of (N/B) * sum_{i in batch} l_i equals sum_i l_i.
  auto x = at::linspace(-3, 5, 50, f64());
  const double full = Normal(at::scalar_tensor(0.5, f64()), 2.).log_prob(x).sum().item<double>();
  const int reps = 4000;
  std::vector<double> estimates;
  SeedHandler seed(11);
  for (int r = 0; r < reps; ++r) {
    TraceHandler tr;
    auto p = plate("data", 50, 5);
    sample("x", Normal(at::scalar_tensor(0.5, f64()), 2.), p, x.index_select(0, p.indices()));
    estimates.push_back(tr.trace().log_prob_sum().item<double>());
  }
  double mean = 0, sq = 0;
  for (double e : estimates) mean += e;
  mean /= reps;
  for (double e : estimates) sq += (e - mean) * (e - mean);
  const double se = std::sqrt(sq / (reps - 1) / reps);
  EXPECT_GT(se, 0.0);
  EXPECT_NEAR(mean, full, 4 * se);
}

TEST(Handlers, ConditionObservesAndBlockHides) {
  TraceHandler outer;
  {
    ConditionHandler cond({{"mu", at::scalar_tensor(1.5)}});
    auto block = BlockHandler::hiding({"hidden"});
    auto mu = sample("mu", Normal(0., 1.));
    EXPECT_DOUBLE_EQ(mu.item<double>(), 1.5);
    sample("hidden", Normal(0., 1.));
  }
  EXPECT_TRUE(outer.trace().at("mu").observed);
  EXPECT_FALSE(outer.trace().contains("hidden"));
}

TEST(Handlers, ScaleAndMaskChangeLogDensity) {
  TraceHandler tr;
  {
    ScaleHandler scale(3.0);
    MaskHandler mask(at::tensor({1, 0}).to(at::kBool));
    sample("x", Normal(at::zeros({2}), 1.), at::zeros({2}));
  }
  const Site& s = tr.trace().at("x");
  EXPECT_DOUBLE_EQ(s.scale, 3.0);
  EXPECT_NEAR(s.scaled_log_prob_sum().item<double>(), 3.0 * -0.5 * std::log(2 * M_PI), 1e-5);
}

TEST(Handlers, SeedMakesDrawsReproducible) {
  auto draw = [](uint64_t s) {
    SeedHandler seed(s);
    return sample("x", Normal(at::zeros({5}), 1.));
  };
  EXPECT_TRUE(at::equal(draw(5), draw(5)));
  EXPECT_FALSE(at::equal(draw(5), draw(6)));
}

TEST(Param, ConstrainedParamsLiveUnconstrainedInTheStore) {
  ParamStore store;
  ParamStoreScope scope(store);
  auto s = param("sigma", at::scalar_tensor(2.0, f64()), dist::constraints::positive());
  EXPECT_NEAR(s.item<double>(), 2.0, 1e-12);
  EXPECT_NEAR(store.entry("sigma").unconstrained.item<double>(), std::log(2.0), 1e-12);
  EXPECT_TRUE(store.entry("sigma").unconstrained.requires_grad());
  // Second call reads the stored value, ignoring the init.
  EXPECT_NEAR(param("sigma", at::scalar_tensor(5.0, f64()), dist::constraints::positive()).item<double>(), 2.0, 1e-12);
  SubstituteHandler sub({{"sigma", at::scalar_tensor(4.0, f64())}});
  EXPECT_DOUBLE_EQ(param("sigma", {}, dist::constraints::positive()).item<double>(), 4.0);
  EXPECT_THROW(param("bad", at::scalar_tensor(-1.0, f64()), dist::constraints::positive()), ModelError);
}

TEST(Primitives, ObservedValueOutsideSupportNamesSite) {
  TraceHandler tr;
  Normal n(0., 1.);
  auto positive_dist = n.expand({});  // real support: any value is fine
  EXPECT_NO_THROW(sample("ok", *positive_dist, at::scalar_tensor(-3.0)));
}
