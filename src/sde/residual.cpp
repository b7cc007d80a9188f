#include "amortize/sde/residual.hpp"

#include "amortize/sde/scalar_constant.hpp"

#include <stdexcept>
#include <string>
#include <utility>

namespace amortize::sde {
namespace {
// 1/2 as a tensor of the caller's dtype (see ScalarConstant); one per thread.
const Tensor& half_like(const Tensor& t) {
  thread_local const ScalarConstant half(0.5);
  return half.like(t);
}
}  // namespace

DriftFn counted(DriftFn drift, NfeCounter& counter) {
  NfeCounter* c = &counter;
  return [drift = std::move(drift), c](const Tensor& z, const Tensor& t) {
    const int64_t d = z.dim() == 0 ? 1 : z.size(-1);
    c->add(d == 0 ? 0 : z.numel() / d);
    return drift(z, t);
  };
}

Tensor lyapunov_coefficient(const Tensor& c, const Tensor& l, const Tensor& dl) {
  return (c * at::exp(-l) - dl) * half_like(l);
}

Tensor reparameterize(const Tensor& m, const Tensor& l, const Tensor& eps) {
  return at::addcmul(m, at::exp(l * half_like(l)), eps);
}

Tensor residual(const MarginalPath& path, const Tensor& eps, const Tensor& c, const DriftFn& drift,
                const Tensor& t) {
  if (!path.m.defined() || !path.l.defined() || !path.dm.defined() || !path.dl.defined())
    throw std::invalid_argument("sde::residual: the marginal path needs m, l, dm and dl");
  if (eps.dim() == 0 || eps.size(-1) != path.m.size(-1))
    throw std::invalid_argument("sde::residual: eps's last dimension " + std::to_string(eps.dim() ? eps.size(-1) : 0) +
                                " differs from the state dimension " + std::to_string(path.m.size(-1)));
  const Tensor scale = at::exp(path.l * half_like(path.l));
  const Tensor dev = scale * eps;  // z - m
  const Tensor z = path.m + dev;
  const Tensor a = lyapunov_coefficient(c, path.l, path.dl);
  auto lead = z.sizes().vec();
  lead.pop_back();
  const Tensor tz = (t.numel() == 1 ? t.reshape({}) : t).expand(lead);
  const Tensor f = drift(z, tz);
  return path.dm - a * dev - f;
}

Tensor weighted_squared_norm(const Tensor& r, const Tensor& c) { return (r * r / c).sum(-1); }

Tensor normed_residual(const MarginalPath& path, const Tensor& eps, const Tensor& c, const DriftFn& drift,
                       const Tensor& t) {
  return weighted_squared_norm(residual(path, eps, c, drift, t), c);
}

}  // namespace amortize::sde
