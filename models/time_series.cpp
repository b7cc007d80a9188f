// Time-series models of the zoo: an AR(K) process and a GARCH(1,1) volatility model.
#include "amortize/dist/continuous/half_cauchy.hpp"
#include "amortize/dist/continuous/improper_uniform.hpp"
#include "amortize/dist/continuous/normal.hpp"
#include "amortize/model/primitives.hpp"
#include "zoo_detail.hpp"

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
    std::vector<Tensor> sigmas{at::full_like(mu, sigma1)};
    for (int64_t i = 1; i < t; ++i) {
      auto prev = sigmas.back();
      sigmas.push_back(at::sqrt(alpha0 + alpha1 * (y[i - 1] - mu).square() + beta1 * prev.square()));
    }
    auto sigma = at::stack(sigmas, -1);  // (T) or, with particles, (K, 1, T)
    if (sigma.dim() > 1) sigma = sigma.squeeze(-2);
    auto steps = plate("steps", t);
    sample("y", Normal(mu, sigma), steps, y);
  };
}

}  // namespace amortize::models::detail
