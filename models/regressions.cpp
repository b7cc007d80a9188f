// Linear regressions of the zoo: earnings, kidiq, mesquite (flat priors) and sblrc (proper).
#include "amortize/dist/continuous/half_cauchy.hpp"
#include "amortize/dist/continuous/half_normal.hpp"
#include "amortize/dist/continuous/improper_uniform.hpp"
#include "amortize/dist/continuous/normal.hpp"
#include "amortize/model/primitives.hpp"
#include "zoo_detail.hpp"

namespace amortize::models::detail {
using namespace amortize::dist;
using model::plate;
using model::sample;

namespace {
// y ~ Normal(X beta, sigma) with beta flat or Normal(0, beta_scale), sigma from `sigma_prior`.
infer::Program regression(Tensor X, Tensor y, std::function<Tensor()> beta_prior, std::function<Tensor()> sigma_prior) {
  return [=] {
    Tensor beta = beta_prior();
    Tensor sigma = sigma_prior();
    auto data = plate("data", y.size(0));
    // beta is (D) or, with particles, (K, 1, D): (X * beta).sum(-1) broadcasts to (N) or (K, N).
    sample("y", Normal((X * beta).sum(-1), sigma), data, y);
  };
}

std::function<Tensor()> flat_vector(int64_t d, at::TensorOptions o) {
  return [=] { return sample("beta", ImproperUniform(constraints::real(), {}, {d}, o)); };
}
std::function<Tensor()> flat_positive(at::TensorOptions o) {
  return [=] { return sample("sigma", ImproperUniform(constraints::positive(), {}, {}, o)); };
}
std::function<Tensor()> half_cauchy(double scale, at::TensorOptions o) {
  return [=] { return sample("sigma", HalfCauchy(at::scalar_tensor(scale, o))); };
}
}  // namespace

infer::Program earnings(const io::DataFile& data, at::TensorOptions o) {
  const int64_t n = data.integer("N");
  auto h = data.vector("height", n).to(o), m = data.vector("male", n).to(o);
  auto earn = data.vector("earn", n).to(o);
  auto X = at::stack({at::ones_like(h), h, m, h * m}, 1);
  return regression(X, earn.log(), flat_vector(4, o), flat_positive(o));
}

infer::Program kidiq(const io::DataFile& data, at::TensorOptions o) {
  const int64_t n = data.integer("N");
  auto hs = data.vector("mom_hs", n).to(o), iq = data.vector("mom_iq", n).to(o);
  auto X = at::stack({at::ones_like(hs), hs, iq, hs * iq}, 1);
  return regression(X, data.vector("kid_score", n).to(o), flat_vector(4, o), half_cauchy(2.5, o));
}

infer::Program mesquite(const io::DataFile& data, at::TensorOptions o) {
  const int64_t n = data.integer("N");
  auto col = [&](const char* f) { return data.vector(f, n).to(o); };
  auto X = at::stack({at::ones({n}, o), col("diam1").log(), col("diam2").log(), col("canopy_height").log(),
                      col("total_height").log(), col("density").log(), col("group")},
                     1);
  return regression(X, col("weight").log(), flat_vector(7, o), flat_positive(o));
}

infer::Program sblrc(const io::DataFile& data, at::TensorOptions o) {
  const int64_t n = data.integer("N"), d = data.integer("D");
  auto X = data.matrix("X", n, d).to(o);
  auto beta = [=] { return sample("beta", Normal(at::zeros({d}, o), 10.).to_event(1)); };
  auto sigma = [=] { return sample("sigma", HalfNormal(at::scalar_tensor(10., o))); };
  return regression(X, data.vector("y", n).to(o), beta, sigma);
}

}  // namespace amortize::models::detail
