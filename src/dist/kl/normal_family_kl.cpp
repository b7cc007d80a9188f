#include "amortize/dist/continuous/normal.hpp"
#include "amortize/dist/kl/kl_divergence.hpp"

namespace amortize::dist {

// KL between Gaussians with the same event shape: log(s_q/s_p) + (s_p^2 + (m_p-m_q)^2)/(2 s_q^2) - 1/2.
Tensor kl_normal_normal(const Tensor& loc_p, const Tensor& scale_p, const Tensor& loc_q, const Tensor& scale_q) {
  auto var_ratio = (scale_p / scale_q).square();
  auto t1 = ((loc_p - loc_q) / scale_q).square();
  return 0.5 * (var_ratio + t1 - 1 - var_ratio.log());
}

namespace kl_detail {
void register_normal_family(const std::function<void(std::string, std::string, KLFunction)>& add) {
  add("Normal", "Normal", [](const Distribution& p, const Distribution& q) {
    const auto& a = dynamic_cast<const Normal&>(p);
    const auto& b = dynamic_cast<const Normal&>(q);
    return kl_normal_normal(a.loc(), a.scale(), b.loc(), b.scale());
  });
  // LogNormal-LogNormal is added by continuous/log_normal.cpp's family (see register_log_normal_kl).
}
}  // namespace kl_detail

}  // namespace amortize::dist
