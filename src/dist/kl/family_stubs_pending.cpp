// Temporary: families not yet written register nothing. Each family's file replaces its line.
#include "amortize/dist/kl/kl_divergence.hpp"

namespace amortize::dist::kl_detail {
void register_gamma_family(const std::function<void(std::string, std::string, KLFunction)>&) {}
void register_multivariate_family(const std::function<void(std::string, std::string, KLFunction)>&) {}
void register_discrete_family(const std::function<void(std::string, std::string, KLFunction)>&) {}
}  // namespace amortize::dist::kl_detail
