// Time-series models of the zoo: an AR(K) process and a GARCH(1,1) volatility model.
#include "amortize/dist/continuous/half_cauchy.hpp"
#include "amortize/dist/continuous/improper_uniform.hpp"
#include "amortize/dist/continuous/normal.hpp"
#include "amortize/model/primitives.hpp"
#include "zoo_detail.hpp"

#include <cmath>
#include <limits>

namespace amortize::models::detail {
using namespace amortize::dist;
using namespace amortize::model;

infer::Program ar_k(const io::DataFile& data, at::TensorOptions o) {
  const int64_t k = data.integer("K"), t = data.integer("T");
  Tensor y = data.vector("y", t).to(o);
  // lags[t - K, j] = y[t - j - 1] for t = K .. T-1 (0-based).
  std::vector<Tensor> cols;
  for (int64_t j = 0; j < k; ++j) cols.push_back(y.narrow(0, k - j - 1, t - k));
  Tensor lags = at::stack(cols, 1), target = y.narrow(0, k, t - k);
  return [=] {
    auto alpha = sample("alpha", Normal(at::zeros({}, o), 10.));
    auto beta = sample("beta", Normal(at::zeros({k}, o), 10.).to_event(1));
    auto sigma = sample("sigma", HalfCauchy(at::scalar_tensor(2.5, o)));
    auto steps = plate("steps", t - k);
    sample("y", Normal(alpha + (lags * beta).sum(-1), sigma), steps, target);
  };
}

namespace {
// sigma_t for t = 1..T, sigma_1 given and sigma_t^2 = s_t = c_t + b s_{t-1} with
// c_t = alpha0 + alpha1 (y_{t-1} - mu)^2. Unrolled, s_t = b^t sum_{j<=t} c_j b^-j (c_1 = s_1):
// one logcumsumexp instead of a T-step loop (about 14 operations per step and as many backward
// nodes), and still twice differentiable for the Laplace start. log b is floored at the log of
// the dtype's smallest normal number so that b = 0 does not give 0 * log 0 = NaN.
Tensor garch_volatility(const Tensor& y, double sigma1, const Tensor& mu, const Tensor& alpha0, const Tensor& alpha1,
                        const Tensor& beta1) {
  const int64_t t = y.size(0);
  Tensor c = alpha0.unsqueeze(-1) + alpha1.unsqueeze(-1) * (y.narrow(0, 0, t - 1) - mu.unsqueeze(-1)).square();
  auto first_shape = c.sizes().vec();
  first_shape.back() = 1;
  Tensor log_c = at::cat({at::full(first_shape, sigma1 * sigma1, c.options()), c}, -1).log();
  const double log_tiny = y.scalar_type() == at::kFloat ? std::log(std::numeric_limits<float>::min())
                                                        : std::log(std::numeric_limits<double>::min());
  Tensor log_b = beta1.unsqueeze(-1).log().clamp_min(log_tiny);
  Tensor j = at::arange(t, y.options());
  return ((at::logcumsumexp(log_c - j * log_b, -1) + j * log_b) * 0.5).exp();
}
}  // namespace

infer::Program garch11(const io::DataFile& data, at::TensorOptions o) {
  const int64_t t = data.integer("T");
  Tensor y = data.vector("y", t).to(o);
  const double sigma1 = data.real("sigma1");
  return [=] {
    auto mu = sample("mu", ImproperUniform(constraints::real(), {}, {}, o));
    auto alpha0 = sample("alpha0", ImproperUniform(constraints::positive(), {}, {}, o));
    auto alpha1 = sample("alpha1", ImproperUniform(constraints::unit_interval(), {}, {}, o));
    // beta1 is flat on (0, 1 - alpha1): sample its fraction of that interval and add the Jacobian.
    auto beta1_fraction = sample("beta1_fraction", ImproperUniform(constraints::unit_interval(), {}, {}, o));
    auto beta1 = deterministic("beta1", (1 - alpha1) * beta1_fraction);
    factor("beta1_jacobian", at::log1p(-alpha1));
    auto sigma = garch_volatility(y, sigma1, mu, alpha0, alpha1, beta1);  // (T) or, with particles, (K, 1, T)
    if (sigma.dim() > 1) sigma = sigma.squeeze(-2);
    auto steps = plate("steps", t);
    sample("y", Normal(mu, sigma), steps, y);
  };
}

}  // namespace amortize::models::detail
