#include "amortize/dist/continuous/student_t.hpp"
#include "continuous_test_support.hpp"

#include <cmath>
#include <functional>
#include <limits>

using namespace amortize;
using namespace amortize::dist;
using namespace continuous_test;

namespace {
double reference_log_prob(double x, double df, double loc, double scale) {
  const double t = (x - loc) / (scale * std::sqrt(df));
  return std::lgamma((df + 1) / 2) - std::lgamma(df / 2) - 0.5 * std::log(df * M_PI) - std::log(scale) -
         (df + 1) * std::log(std::hypot(1.0, t));
}

// E[g(x)] for x ~ StudentT(df, 0, 1) by Simpson's rule after x = tan(theta), which maps the
// real line onto (-pi/2, pi/2); g must decay like x^-2 so the integrand vanishes at the ends.
double expectation_by_quadrature(const std::function<double(double)>& g, double df) {
  const int intervals = 200000;
  const double a = -M_PI / 2, step = M_PI / intervals;
  double total = 0;
  for (int i = 1; i < intervals; ++i) {
    const double theta = a + i * step;
    const double x = std::tan(theta);
    const double cos_theta = std::cos(theta);
    const double weight = i % 2 ? 4 : 2;
    total += weight * g(x) * std::exp(reference_log_prob(x, df, 0.0, 1.0)) / (cos_theta * cos_theta);
  }
  return total * step / 3;
}

// Absolute rounding error of the reference: its two lgammas cancel at large df.
double reference_tolerance(double df, double expected) {
  return 1e-13 * (std::abs(std::lgamma((df + 1) / 2)) + std::abs(std::lgamma(df / 2)) + std::abs(expected) + 1);
}

// Continued fraction of the regularized incomplete beta I_x(a, b) (modified Lentz), for
// x < (a + 1) / (a + b + 2).
double incomplete_beta_fraction(double a, double b, double x) {
  const double tiny = 1e-300;
  double c = 1, dd = 1 - (a + b) * x / (a + 1);
  dd = 1 / (std::abs(dd) < tiny ? tiny : dd);
  double h = dd;
  for (int m = 1; m < 100000; ++m) {
    for (int step = 0; step < 2; ++step) {
      const double num = step == 0 ? m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
                                   : -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1));
      dd = 1 + num * dd;
      dd = 1 / (std::abs(dd) < tiny ? tiny : dd);
      c = 1 + num / c;
      c = std::abs(c) < tiny ? tiny : c;
      h *= dd * c;
      if (step == 1 && std::abs(dd * c - 1) < 1e-15) return h;
    }
  }
  return h;
}

// I_x(a, b) given x and y = 1 - x (passed separately to keep precision near 1).
double regularized_incomplete_beta(double a, double b, double x, double y) {
  if (x <= 0) return 0;
  if (y <= 0) return 1;
  const double log_front = a * std::log(x) + b * std::log(y) - (std::lgamma(a) + std::lgamma(b) - std::lgamma(a + b));
  if (x < (a + 1) / (a + b + 2)) return std::exp(log_front) * incomplete_beta_fraction(a, b, x) / a;
  return 1 - std::exp(log_front) * incomplete_beta_fraction(b, a, y) / b;
}

// Student-t cdf through I_{df/(df+t^2)}(df/2, 1/2).
double student_t_cdf(double t, double df) {
  const double x = df / (df + t * t), y = t * t / (df + t * t);
  const double tail = 0.5 * regularized_incomplete_beta(df / 2, 0.5, x, y);
  return t < 0 ? tail : 1 - tail;
}

at::Tensor student_t_cdf(const at::Tensor& values, double df, double loc, double scale) {
  auto v = values.to(at::kDouble).contiguous();
  auto out = at::empty_like(v);
  const double* in = v.data_ptr<double>();
  double* res = out.data_ptr<double>();
  for (int64_t i = 0; i < v.numel(); ++i) res[i] = student_t_cdf((in[i] - loc) / scale, df);
  return out;
}
}  // namespace

TEST(StudentT, ReferenceCdfMatchesKnownClosedForms) {
  for (double t : {-30.0, -1.0, 0.0, 0.4, 5.0}) {
    EXPECT_NEAR(student_t_cdf(t, 1.0), 0.5 + std::atan(t) / M_PI, 1e-13);
    EXPECT_NEAR(student_t_cdf(t, 2.0), 0.5 + t / (2 * std::sqrt(2 + t * t)), 1e-13);
    EXPECT_NEAR(student_t_cdf(t, 1e8), 0.5 * std::erfc(-t / std::sqrt(2.0)), 1e-6);
  }
}

TEST(StudentT, LogProbMatchesClosedFormFromTinyToHugeDf) {
  for (double df : {0.5, 1.0, 3.0, 30.0, 1e6, 1e12}) {
    for (double scale : {1e-3, 1.0, 1e3}) {
      StudentT dist(d(df), 0.5, scale);
      for (double x : {-1e300, -1e10, -2.0, 0.5, 3.0, 1e20}) {
        const double expected = reference_log_prob(x, df, 0.5, scale);
        EXPECT_NEAR(dist.log_prob(d(x)).item<double>(), expected, reference_tolerance(df, expected))
            << "df " << df << " scale " << scale << " x " << x;
      }
    }
  }
}

TEST(StudentT, Float32LogProbAvoidsLgammaCancellationAtHugeDf) {
  // Naively lgamma(500000.5) - lgamma(500000) in float32 is off by ~0.5; the result must
  // match the double reference to float32 precision at every df.
  for (double df : {0.5, 4.0, 45.0, 1e6, 1e9}) {
    StudentT dist(f(df), 0.0, 2.0);
    for (double x : {-3e30, -5.0, 0.0, 1.5, 40.0}) {
      const double expected = reference_log_prob(static_cast<float>(x), df, 0.0, 2.0);
      EXPECT_NEAR(dist.log_prob(f(x)).item<double>(), expected, 1e-5 * (1 + std::abs(expected)))
          << "df " << df << " x " << x;
    }
  }
}

TEST(StudentT, GradientsMatchFiniteDifferences) {
  auto x = at::tensor({-40.0, 0.2, 3.0}, f64());
  for (double df : {0.5, 4.0, 1e6}) {
    EXPECT_TRUE(gradient_matches([&](const at::Tensor& p) { return StudentT(p[0], p[1], p[2]).log_prob(x); },
                                 at::tensor({df, 0.3, 1.7}, f64()), 1e-6));
  }
  EXPECT_TRUE(gradient_matches([](const at::Tensor& v) { return StudentT(3.0, 0.3, 1.7).log_prob(v); }, x));
  // With the noise fixed, the draw is linear in loc and scale (df's gradient is implicit: see below).
  EXPECT_TRUE(gradient_matches([](const at::Tensor& p) { return StudentT(d(3.0), p[0], p[1]).rsample({5}, seeded(4)); },
                               at::tensor({0.3, 1.7}, f64())));
}

TEST(StudentT, PathwiseGradientsOfSecondMomentMatchAnalyticIncludingDf) {
  // E[x^2] = m^2 + s^2 df / (df - 2).
  const double df = 10, m = 0.5, s = 1.5;
  const int64_t n = 400000;
  auto by_df = pathwise_derivative(
      [&](const at::Tensor& v) { return StudentT(v, m, s).rsample({}, seeded(1)).square(); }, df, n);
  EXPECT_TRUE(within_monte_carlo(by_df, -2 * s * s / ((df - 2) * (df - 2))));
  auto by_loc = pathwise_derivative(
      [&](const at::Tensor& loc) { return StudentT(d(df), loc, s).rsample({}, seeded(2)).square(); }, m, n);
  EXPECT_TRUE(within_monte_carlo(by_loc, 2 * m));
  auto by_scale = pathwise_derivative(
      [&](const at::Tensor& scale) { return StudentT(d(df), m, scale).rsample({}, seeded(3)).square(); }, s, n);
  EXPECT_TRUE(within_monte_carlo(by_scale, 2 * s * df / (df - 2)));
}

TEST(StudentT, PathwiseGradientWithRespectToSmallDfMatchesQuadrature) {
  // d/ddf E[1 / (1 + x^2)] has no elementary form: the truth is a central difference (in df)
  // of the expectation computed by quadrature, whose error (~1e-9) is far below the MC error.
  auto g = [](double x) { return 1 / (1 + x * x); };
  for (double df : {0.7, 3.0}) {
    const double h = 1e-4;
    const double truth = (expectation_by_quadrature(g, df + h) - expectation_by_quadrature(g, df - h)) / (2 * h);
    auto pathwise = pathwise_derivative(
        [](const at::Tensor& v) { return (1 + StudentT(v, 0.0, 1.0).rsample({}, seeded(5)).square()).reciprocal(); },
        df, 400000);
    EXPECT_TRUE(within_monte_carlo(pathwise, truth));
  }
}

TEST(StudentT, SamplesPassKolmogorovSmirnovFromTinyToHugeDf) {
  for (double df : {0.5, 1.0, 5.0, 1e6}) {
    for (auto options : {f64(), f32()}) {
      StudentT dist(at::scalar_tensor(df, options), -1.0, 2.0);
      auto xs = dist.sample({20000}, seeded(19));
      EXPECT_EQ(xs.scalar_type(), options.dtype().toScalarType());
      EXPECT_FALSE(at::any(at::isnan(xs)).item<bool>());
      EXPECT_TRUE(passes_ks(xs, [&](const at::Tensor& v) { return student_t_cdf(v, df, -1.0, 2.0); }));
    }
  }
}

TEST(StudentT, SampleMomentsMatchWhereTheyExist) {
  StudentT dist(d(9.0), 0.5, 2.0);
  auto xs = dist.sample({200000}, seeded(20));
  EXPECT_TRUE(moments_match(xs, 0.5, 4.0 * 9 / 7));
  StudentT near_normal(d(1e6), 0.5, 2.0);
  EXPECT_TRUE(moments_match(near_normal.sample({200000}, seeded(21)), 0.5, 4.0 * 1e6 / (1e6 - 2)));
}

TEST(StudentT, MeanAndVarianceFollowTheDfCases) {
  StudentT dist(at::tensor({0.5, 1.0, 1.5, 2.0, 3.0}, f64()), 0.5, 2.0);
  auto mean = dist.mean();
  auto var = dist.variance();
  EXPECT_TRUE(std::isnan(mean[0].item<double>()));
  EXPECT_TRUE(std::isnan(mean[1].item<double>()));
  EXPECT_EQ(mean[2].item<double>(), 0.5);
  EXPECT_TRUE(std::isnan(var[0].item<double>()));
  EXPECT_TRUE(std::isnan(var[1].item<double>()));
  EXPECT_EQ(var[2].item<double>(), std::numeric_limits<double>::infinity());
  EXPECT_EQ(var[3].item<double>(), std::numeric_limits<double>::infinity());
  EXPECT_NEAR(var[4].item<double>(), 12.0, 1e-14);
  auto df = d(3.0).requires_grad_(true);
  StudentT(df, 0.0, 1.0).variance().backward();
  EXPECT_NEAR(df.grad().item<double>(), -2.0, 1e-14);
}

TEST(StudentT, EntropyMatchesClosedFormAndMonteCarlo) {
  for (double df : {0.5, 3.0, 41.0, 1e3, 1e6}) {
    // The PyTorch form, with lgamma/digamma in double (accurate here up to df ~ 1e3).
    auto x = d(df / 2);
    const double lbeta = std::lgamma(df / 2) + std::lgamma(0.5) - std::lgamma((df + 1) / 2);
    const double digamma_gap = (at::digamma(x + 0.5) - at::digamma(x)).item<double>();
    const double expected = std::log(2.0) + 0.5 * (df + 1) * digamma_gap + 0.5 * std::log(df) + lbeta;
    const double normal_limit = std::log(2.0) + 0.5 + 0.5 * std::log(2 * M_PI);
    StudentT dist(d(df), 0.3, 2.0);
    const double entropy = dist.entropy().item<double>();
    if (df <= 1e3) {
      EXPECT_NEAR(entropy, expected, 1e-12 * (1 + std::abs(std::lgamma(df / 2))));
    } else {
      // Beyond double digamma's reach: entropy = normal entropy + 1/df + 1/(4 df^2) + O(df^-3).
      EXPECT_NEAR(entropy, normal_limit + 1 / df + 0.25 / (df * df), 1e-14 * (1 + normal_limit));
    }
    const double entropy32 = StudentT(f(df), 0.3, 2.0).entropy().item<double>();
    EXPECT_NEAR(entropy32, entropy, 1e-6 * (1 + std::abs(entropy)));
    EXPECT_TRUE(within_monte_carlo(monte_carlo(-dist.log_prob(dist.sample({100000}, seeded(26)))), entropy));
  }
}

TEST(StudentT, BroadcastsAndExpands) {
  StudentT dist(at::full({3, 1}, 4.0, f32()), at::zeros({2}, f32()), 1.0);
  EXPECT_EQ(dist.batch_shape(), (Shape{3, 2}));
  EXPECT_EQ(dist.log_prob(at::zeros({5, 1, 1}, f32())).sizes(), (at::IntArrayRef{5, 3, 2}));
  auto expanded = dist.expand({4, 3, 2});
  EXPECT_EQ(expanded->rsample({6}, seeded(1)).sizes(), (at::IntArrayRef{6, 4, 3, 2}));
  EXPECT_EQ(expanded->rsample().scalar_type(), at::kFloat);
}

TEST(StudentT, RejectsBadArgumentsNamingThem) {
  EXPECT_TRUE(throws_error(
      [] {
        StudentT(at::tensor({1.0, 0.0}, f64()));
      },
      "StudentT: df must be positive, got 0 at index [1]"));
  EXPECT_TRUE(throws_error([] { StudentT(3.0, 0.0, -1.0); }, "StudentT: scale must be positive, got -1"));
  EXPECT_TRUE(throws_error([] { StudentT(3.0, std::numeric_limits<double>::infinity(), 1.0); },
                           "StudentT: loc must be finite, got inf"));
  EXPECT_TRUE(throws_error([] { StudentT(at::ones({2}, f64()), at::zeros({3}, f64())); },
                           "StudentT: parameters of shapes (2) and (3) and () do not broadcast"));
}
