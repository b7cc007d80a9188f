#include "amortize/dist/kl/kl_divergence.hpp"

#include "amortize/dist/independent.hpp"

#include <map>
#include <mutex>

namespace amortize::dist {
namespace {
using Key = std::pair<std::string, std::string>;

std::map<Key, KLFunction>& registry() {
  static std::map<Key, KLFunction> table;
  static std::once_flag builtins;
  std::call_once(builtins, [] {
    auto add = [](std::string p, std::string q, KLFunction f) { table[{std::move(p), std::move(q)}] = std::move(f); };
    kl_detail::register_normal_family(add);
    kl_detail::register_gamma_family(add);
    kl_detail::register_multivariate_family(add);
    kl_detail::register_discrete_family(add);
  });
  return table;
}

const Independent* as_independent(const Distribution& d) { return dynamic_cast<const Independent*>(&d); }
}  // namespace

void register_kl(const std::string& p_type, const std::string& q_type, KLFunction kl) {
  registry()[{p_type, q_type}] = std::move(kl);
}

bool has_kl(const Distribution& p, const Distribution& q) {
  const auto* ip = as_independent(p);
  const auto* iq = as_independent(q);
  if (ip && iq) {
    return ip->reinterpreted_dims() == iq->reinterpreted_dims() && has_kl(*ip->base(), *iq->base());
  }
  return registry().count({p.type_name(), q.type_name()}) > 0;
}

Tensor kl_divergence(const Distribution& p, const Distribution& q) {
  const auto* ip = as_independent(p);
  const auto* iq = as_independent(q);
  if (ip && iq && ip->reinterpreted_dims() == iq->reinterpreted_dims()) {
    return sum_rightmost(kl_divergence(*ip->base(), *iq->base()), ip->reinterpreted_dims());
  }
  if (p.event_shape() != q.event_shape()) {
    throw DistributionError("kl_divergence: event shapes " + shape_string(p.event_shape()) + " of " + p.type_name() +
                            " and " + shape_string(q.event_shape()) + " of " + q.type_name() + " differ");
  }
  auto it = registry().find({p.type_name(), q.type_name()});
  if (it == registry().end()) {
    throw DistributionError("kl_divergence: no closed form for KL(" + p.type_name() + " || " + q.type_name() + ")");
  }
  return it->second(p, q);
}

}  // namespace amortize::dist
