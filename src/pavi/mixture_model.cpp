#include "amortize/pavi/mixture_model.hpp"

#include "amortize/dist/continuous/dirichlet.hpp"
#include "amortize/dist/continuous/normal.hpp"
#include "amortize/dist/discrete/categorical.hpp"
#include "amortize/dist/mixture_same_family.hpp"
#include "amortize/model/primitives.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <stdexcept>

namespace amortize::pavi {

MixtureData generate_mixture(const MixtureDataOptions& o) {
  if (o.groups < 1 || o.obs_per_group < 1 || o.dim < 1 || o.components < 2) {
    throw std::invalid_argument(
        "generate_mixture: groups, obs_per_group and dim must be positive and components at least 2");
  }
  auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  auto f64 = at::TensorOptions().dtype(at::kDouble);
  const auto& s = o.scales;
  MixtureData d;
  d.true_means = at::randn({o.components, o.dim}, gen, f64) * s.component;
  d.true_group_means = d.true_means + at::randn({o.groups, o.components, o.dim}, gen, f64) * s.group;
  Tensor g = at::_standard_gamma(at::full({o.groups, o.components}, s.concentration, f64), gen);
  d.true_weights = g / g.sum(-1, true);
  Tensor labels = at::multinomial(d.true_weights, o.obs_per_group, /*replacement=*/true, gen);  // [G, N]
  Tensor centres = at::gather(d.true_group_means, 1, labels.unsqueeze(-1).expand({o.groups, o.obs_per_group, o.dim}));
  d.x = (centres + at::randn({o.groups, o.obs_per_group, o.dim}, gen, f64) * s.obs).to(o.options);
  d.true_means = d.true_means.to(o.options);
  d.true_group_means = d.true_group_means.to(o.options);
  d.true_weights = d.true_weights.to(o.options);
  return d;
}

void MixtureModel::operator()() const {
  if (!x.defined() || x.dim() != 3) throw std::invalid_argument("MixtureModel: data x must have shape [G, N, D]");
  if (components < 2) throw std::invalid_argument("MixtureModel: components must be at least 2");
  const int64_t groups = x.size(0), obs = x.size(1), dim = x.size(2), k = components;
  const int64_t batch = batch_size > 0 ? batch_size : groups;
  auto means = model::sample("means", *dist::Normal(at::zeros({k, dim}, x.options()), scales.component).to_event(2));
  auto plate = model::plate("groups", groups, batch);
  Tensor xb = x.index_select(0, plate.indices().to(x.device()));
  auto weights = model::sample("weights", dist::Dirichlet(at::full({k}, scales.concentration, x.options())), plate);
  auto group_means = model::sample("group_means", *dist::Normal(means, scales.group).to_event(2), plate);
  // Each observation's mixture: weights [.., B, N, K], components [.., B, N, K, D].
  auto w_shape = weights.sizes().vec();
  w_shape.insert(w_shape.end() - 1, obs);
  auto m_shape = group_means.sizes().vec();
  m_shape.insert(m_shape.end() - 2, obs);
  dist::MixtureSameFamily mixture(dist::Categorical::from_probs(weights.unsqueeze(-2).expand(w_shape)),
                                  dist::Normal(group_means.unsqueeze(-3).expand(m_shape), scales.obs).to_event(1));
  model::sample("x", *mixture.to_event(1), plate, xb);
}

}  // namespace amortize::pavi
