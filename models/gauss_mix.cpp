// A two-component Gaussian mixture with ordered means (posteriordb low_dim_gauss_mix).
#include "amortize/dist/continuous/beta.hpp"
#include "amortize/dist/continuous/half_normal.hpp"
#include "amortize/dist/continuous/improper_uniform.hpp"
#include "amortize/dist/continuous/normal.hpp"
#include "amortize/model/primitives.hpp"
#include "zoo_detail.hpp"

namespace amortize::models::detail {
using namespace amortize::dist;
using namespace amortize::model;

infer::Program low_dim_gauss_mix(const io::DataFile& data, at::TensorOptions o) {
  const int64_t n = data.integer("N");
  Tensor y = data.vector("y", n).to(o);
  return [=] {
    // Stan's `ordered[2] mu; mu ~ normal(0, 2)`: a flat ordered vector plus the normal density.
    auto mu = sample("mu", ImproperUniform(constraints::ordered_vector(), {}, {2}, o));
    factor("mu_prior", Normal(at::zeros({}, o), 2.).log_prob(mu).sum(-1));
    auto sigma = sample("sigma", HalfNormal(at::full({2}, 2., o)).to_event(1));
    auto theta = sample("theta", Beta(at::scalar_tensor(5., o), 5.));
    auto data_plate = plate("data", n);
    auto first = at::log(theta) + Normal(mu.select(-1, 0), sigma.select(-1, 0)).log_prob(y);
    auto second = at::log1p(-theta) + Normal(mu.select(-1, 1), sigma.select(-1, 1)).log_prob(y);
    factor("y", at::logaddexp(first, second));
  };
}

}  // namespace amortize::models::detail
