// KL(p || q) in closed form, looked up in a registry keyed by the two distributions' type
// names. Independent pairs reduce to their bases. A pair with no closed form raises a
// DistributionError naming both types; callers that can fall back to Monte Carlo ask has_kl.
#pragma once
#include "amortize/dist/distribution.hpp"

#include <functional>
#include <string>

namespace amortize::dist {

using KLFunction = std::function<Tensor(const Distribution& p, const Distribution& q)>;

void register_kl(const std::string& p_type, const std::string& q_type, KLFunction kl);
bool has_kl(const Distribution& p, const Distribution& q);
// Shape: the broadcast batch shape of p and q.
Tensor kl_divergence(const Distribution& p, const Distribution& q);

namespace kl_detail {
// Each family's file registers its closed forms here (called once, on first use).
void register_normal_family(const std::function<void(std::string, std::string, KLFunction)>& add);
void register_gamma_family(const std::function<void(std::string, std::string, KLFunction)>& add);
void register_multivariate_family(const std::function<void(std::string, std::string, KLFunction)>& add);
void register_discrete_family(const std::function<void(std::string, std::string, KLFunction)>& add);
}  // namespace kl_detail

}  // namespace amortize::dist
