#include "amortize/dist/continuous/beta.hpp"
#include "amortize/dist/continuous/dirichlet.hpp"
#include "amortize/dist/continuous/gamma.hpp"
#include "amortize/dist/kl/kl_divergence.hpp"

namespace amortize::dist {
namespace {
// KL(Gamma(a1, b1) || Gamma(a2, b2))
//   = (a1 - a2) psi(a1) - lgamma(a1) + lgamma(a2) + a2 (log b1 - log b2) + a1 (b2 - b1) / b1.
Tensor kl_gamma_gamma(const Gamma& p, const Gamma& q) {
  const auto& a1 = p.concentration();
  const auto& b1 = p.rate();
  const auto& a2 = q.concentration();
  const auto& b2 = q.rate();
  return (a1 - a2) * at::digamma(a1) - at::lgamma(a1) + at::lgamma(a2) + a2 * (b1.log() - b2.log()) +
         a1 * (b2 / b1 - 1);
}

// KL between Dirichlets over the last dimension, with A = sum(a):
//   lgamma(A1) - sum lgamma(a1) - lgamma(A2) + sum lgamma(a2) + sum (a1 - a2)(psi(a1) - psi(A1)).
// Beta(a, b) is the Dirichlet over (a, b), so the Beta case is the same sum over two terms.
Tensor kl_dirichlet_dirichlet(const Tensor& a1, const Tensor& a2) {
  auto total1 = a1.sum(-1);
  auto total2 = a2.sum(-1);
  return at::lgamma(total1) - at::lgamma(a1).sum(-1) - at::lgamma(total2) + at::lgamma(a2).sum(-1) +
         ((a1 - a2) * (at::digamma(a1) - at::digamma(total1).unsqueeze(-1))).sum(-1);
}

Tensor stacked_concentrations(const Beta& d) { return at::stack({d.concentration1(), d.concentration0()}, -1); }
}  // namespace

namespace kl_detail {
void register_gamma_family(const std::function<void(std::string, std::string, KLFunction)>& add) {
  add("Gamma", "Gamma", [](const Distribution& p, const Distribution& q) {
    return kl_gamma_gamma(dynamic_cast<const Gamma&>(p), dynamic_cast<const Gamma&>(q));
  });
  add("Beta", "Beta", [](const Distribution& p, const Distribution& q) {
    return kl_dirichlet_dirichlet(stacked_concentrations(dynamic_cast<const Beta&>(p)),
                                  stacked_concentrations(dynamic_cast<const Beta&>(q)));
  });
  add("Dirichlet", "Dirichlet", [](const Distribution& p, const Distribution& q) {
    const auto& a1 = dynamic_cast<const Dirichlet&>(p).concentration();
    const auto& a2 = dynamic_cast<const Dirichlet&>(q).concentration();
    return kl_dirichlet_dirichlet(a1, a2);
  });
}
}  // namespace kl_detail

}  // namespace amortize::dist
