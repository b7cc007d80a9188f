// Eight schools, non-centred (Rubin 1981; posteriordb eight_schools_noncentered).
#include "amortize/dist/continuous/half_cauchy.hpp"
#include "amortize/dist/continuous/normal.hpp"
#include "amortize/model/primitives.hpp"
#include "zoo_detail.hpp"

namespace amortize::models::detail {
using namespace amortize::dist;
using namespace amortize::model;

infer::Program eight_schools_noncentered(const io::DataFile& data, at::TensorOptions o) {
  const int64_t j = data.integer("J");
  Tensor y = data.vector("y", j).to(o), sigma = data.vector("sigma", j).to(o);
  if (!(sigma > 0).all().item<bool>()) throw io::DataError(data.source() + ": field 'sigma' must be positive");
  return [=] {
    auto mu = sample("mu", Normal(at::zeros({}, o), 5.));
    auto tau = sample("tau", HalfCauchy(at::scalar_tensor(5., o)));
    auto schools = plate("schools", j);
    auto theta = deterministic("theta", mu + tau * sample("theta_trans", Normal(at::zeros({}, o), 1.), schools));
    sample("y", Normal(theta, sigma), schools, y);
  };
}

}  // namespace amortize::models::detail
