#include "amortize/pavi/gamma_laplace.hpp"

#include "amortize/dist/continuous/gamma.hpp"
#include "amortize/dist/continuous/laplace.hpp"
#include "amortize/dist/continuous/normal.hpp"
#include "amortize/model/primitives.hpp"
#include "amortize/pavi/model_fit.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <stdexcept>

namespace amortize::pavi {

GammaLaplaceData generate_gamma_laplace(const GammaLaplaceDataOptions& o) {
  if (o.groups < 1 || o.obs_per_group < 1 || o.dim < 1) {
    throw std::invalid_argument("generate_gamma_laplace: groups, obs_per_group and dim must be positive");
  }
  auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  auto f64 = at::TensorOptions().dtype(at::kDouble);
  GammaLaplaceData d;
  d.true_a = at::_standard_gamma(at::full({o.dim}, o.scales.concentration, f64), gen) / o.scales.rate;
  // Laplace(0, s) by inversion: -s sign(u) log(1 - 2 |u|), u uniform on (-1/2, 1/2).
  Tensor u = at::rand({o.groups, o.dim}, gen, f64) - 0.5;
  d.true_b = d.true_a - o.scales.group * u.sign() * at::log1p(-2 * u.abs());
  d.x = d.true_b.unsqueeze(1) + at::randn({o.groups, o.obs_per_group, o.dim}, gen, f64) * o.scales.obs;
  d.true_a = d.true_a.to(o.options);
  d.true_b = d.true_b.to(o.options);
  d.x = d.x.to(o.options);
  return d;
}

void GammaLaplaceModel::operator()() const {
  if (!x.defined() || x.dim() != 3) throw std::invalid_argument("GammaLaplaceModel: data x must have shape [G, N, D]");
  const int64_t groups = x.size(0), dim = x.size(2);
  const int64_t batch = batch_size > 0 ? batch_size : groups;
  auto a = model::sample(
      "a", *dist::Gamma(at::full({dim}, scales.concentration, x.options()), at::full({dim}, scales.rate, x.options()))
                .to_event(1));
  auto plate = model::plate("groups", groups, batch);
  Tensor xb = x.index_select(0, plate.indices().to(x.device()));
  auto b = model::sample("b", *dist::Laplace(a, scales.group).to_event(1), plate);
  auto shape = b.sizes().vec();
  shape.insert(shape.end() - 1, x.size(1));
  model::sample("x", *dist::Normal(b.unsqueeze(-2).expand(shape), scales.obs).to_event(2), plate, xb);
}

GammaLaplaceFit fit_gamma_laplace(const GammaLaplaceData& data, const GreFitOptions& o) {
  const int64_t batch = std::min(o.batch, data.x.size(0));
  if (batch < 1) throw std::invalid_argument("fit_gamma_laplace: batch must be at least 1");
  const auto r = fit_model(gamma_laplace_hierarchy(data, batch), o);
  GammaLaplaceFit out;
  out.trace = r;
  out.n_parameters = r.n_parameters;
  out.latent_dims = r.latent_dims;
  out.peak_rss_mb = r.peak_rss_mb;
  out.moments_seconds = r.moments_seconds;
  out.a_mean = r.globals.front().mean;
  out.a_sd = r.globals.front().sd;
  return out;
}

}  // namespace amortize::pavi
