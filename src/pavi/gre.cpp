#include "amortize/pavi/gre.hpp"

#include "amortize/dist/continuous/normal.hpp"
#include "amortize/model/primitives.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace amortize::pavi {

GreData generate_gre(const GreDataOptions& o) {
  if (o.groups < 1 || o.obs_per_group < 1 || o.dim < 1) {
    throw std::invalid_argument("generate_gre: groups, obs_per_group and dim must be positive");
  }
  auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  auto opts = o.options;
  GreData d;
  d.true_mu = at::randn({o.dim}, gen, opts) * o.scales.mu;
  d.true_mu_g = d.true_mu + at::randn({o.groups, o.dim}, gen, opts) * o.scales.group;
  d.x = d.true_mu_g.unsqueeze(1) + at::randn({o.groups, o.obs_per_group, o.dim}, gen, opts) * o.scales.obs;
  return d;
}

namespace {
void check_data(const Tensor& x, const char* where) {
  if (!x.defined() || x.dim() != 3) {
    throw std::invalid_argument(std::string(where) + ": data x must have shape [G, N, D]");
  }
}
}  // namespace

GrePosterior gre_exact_posterior(const Tensor& x, const GreScales& s, int64_t local_groups) {
  check_data(x, "gre_exact_posterior");
  const double n = static_cast<double>(x.size(1));
  const double v0 = s.mu * s.mu, v1 = s.group * s.group, v2 = s.obs * s.obs;
  Tensor xbar = at::mean(x, {1}, false, at::kDouble);  // [G, D]
  // Integrating mu_g out: xbar_g | mu ~ N(mu, v1 + v2 / N).
  const double vm = v1 + v2 / n;
  const double prec_mu = 1.0 / v0 + static_cast<double>(x.size(0)) / vm;
  GrePosterior p;
  p.mu_mean = xbar.sum(0) / vm / prec_mu;
  p.mu_sd = at::full_like(p.mu_mean, std::sqrt(1.0 / prec_mu));
  // mu_g | mu, x ~ N(a mu + b_g, 1 / prec_g).
  const double prec_g = 1.0 / v1 + n / v2;
  const double a = (1.0 / v1) / prec_g;
  if (local_groups >= 0) xbar = xbar.narrow(0, 0, std::min(local_groups, x.size(0)));
  Tensor b = xbar * (n / v2) / prec_g;
  p.mu_g_mean = a * p.mu_mean + b;
  p.mu_g_sd = at::full_like(p.mu_g_mean, std::sqrt(1.0 / prec_g + a * a / prec_mu));
  return p;
}

double gre_log_evidence(const Tensor& x, const GreScales& s) {
  check_data(x, "gre_log_evidence");
  const double n = static_cast<double>(x.size(1)), g = static_cast<double>(x.size(0));
  const double d = static_cast<double>(x.size(2));
  const double v0 = s.mu * s.mu, v1 = s.group * s.group, v2 = s.obs * s.obs;
  Tensor xbar = at::mean(x, {1}, false, at::kDouble);  // [G, D]
  // Within-group sums of squares, summed over groups and dims.
  const double ss = (x.to(at::kDouble) - xbar.unsqueeze(1)).square().sum().item<double>();
  // x_g | mu ~ N(mu 1, v2 I + v1 J): a constant in mu times exp(-(xbar_g - mu)^2 / (2 vm)).
  const double vm = v1 + v2 / n;
  double log_p = -0.5 * g * d * n * std::log(2 * M_PI * v2) - ss / (2 * v2) - 0.5 * g * d * std::log(1 + n * v1 / v2);
  // Integrating mu ~ N(0, v0) per dim: a Gaussian integral in mu.
  const double prec = 1.0 / v0 + g / vm;
  Tensor sum = xbar.sum(0);  // [D]
  log_p += -0.5 * d * std::log(v0 * prec) - xbar.square().sum().item<double>() / (2 * vm) +
           (sum / vm).square().sum().item<double>() / (2 * prec);
  return log_p;
}

GrePosterior gre_mean_field_optimum(const Tensor& x, const GreScales& s) {
  GrePosterior p = gre_exact_posterior(x, s);
  const double n = static_cast<double>(x.size(1));
  const double g = static_cast<double>(x.size(0));
  p.mu_sd.fill_(std::sqrt(1.0 / (1.0 / (s.mu * s.mu) + g / (s.group * s.group))));
  p.mu_g_sd.fill_(std::sqrt(1.0 / (1.0 / (s.group * s.group) + n / (s.obs * s.obs))));
  return p;
}

void GreModel::operator()() const {
  using dist::Normal;
  check_data(x, "GreModel");
  const int64_t groups = x.size(0), dim = x.size(2);
  const int64_t batch = batch_size > 0 ? batch_size : groups;
  auto mu = model::sample("mu", *Normal(at::zeros({dim}, x.options()), scales.mu).to_event(1));
  auto plate = model::plate("groups", groups, batch);
  Tensor xb = x.index_select(0, plate.indices().to(x.device()));
  auto mu_g = model::sample("mu_g", *Normal(mu, scales.group).to_event(1), plate);
  auto shape = mu_g.sizes().vec();
  shape.insert(shape.end() - 1, x.size(1));
  model::sample("x", *Normal(mu_g.unsqueeze(-2).expand(shape), scales.obs).to_event(2), plate, xb);
}

}  // namespace amortize::pavi
