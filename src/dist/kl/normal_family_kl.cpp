#include "amortize/dist/continuous/cauchy.hpp"
#include "amortize/dist/continuous/half_normal.hpp"
#include "amortize/dist/continuous/laplace.hpp"
#include "amortize/dist/continuous/log_normal.hpp"
#include "amortize/dist/continuous/normal.hpp"
#include "amortize/dist/kl/kl_divergence.hpp"

namespace amortize::dist {

// KL between Gaussians with the same event shape: log(s_q/s_p) + (s_p^2 + (m_p-m_q)^2)/(2 s_q^2) - 1/2.
Tensor kl_normal_normal(const Tensor& loc_p, const Tensor& scale_p, const Tensor& loc_q, const Tensor& scale_q) {
  auto var_ratio = (scale_p / scale_q).square();
  auto t1 = ((loc_p - loc_q) / scale_q).square();
  return 0.5 * (var_ratio + t1 - 1 - var_ratio.log());
}

namespace {
// KL(Laplace(m_p, s_p) || Laplace(m_q, s_q)) = log(s_q/s_p) + |m_p-m_q|/s_q + (s_p/s_q) exp(-|m_p-m_q|/s_p) - 1.
Tensor kl_laplace_laplace(const Laplace& p, const Laplace& q) {
  auto scale_ratio = p.scale() / q.scale();
  auto loc_distance = (p.loc() - q.loc()).abs();
  return -scale_ratio.log() + loc_distance / q.scale() + scale_ratio * (-loc_distance / p.scale()).exp() - 1;
}

// KL(Cauchy(m_p, s_p) || Cauchy(m_q, s_q)) = log(((s_p+s_q)^2 + (m_p-m_q)^2) / (4 s_p s_q)) (Chyzak & Nielsen 2019).
Tensor kl_cauchy_cauchy(const Cauchy& p, const Cauchy& q) {
  auto numerator = (p.scale() + q.scale()).square() + (p.loc() - q.loc()).square();
  return (numerator / (4 * p.scale() * q.scale())).log();
}
}  // namespace

namespace kl_detail {
void register_normal_family(const std::function<void(std::string, std::string, KLFunction)>& add) {
  add("Normal", "Normal", [](const Distribution& p, const Distribution& q) {
    const auto& a = dynamic_cast<const Normal&>(p);
    const auto& b = dynamic_cast<const Normal&>(q);
    return kl_normal_normal(a.loc(), a.scale(), b.loc(), b.scale());
  });
  // exp is a bijection, and KL is invariant under it: the Normal formula on (loc, scale) of log(x).
  add("LogNormal", "LogNormal", [](const Distribution& p, const Distribution& q) {
    const auto& a = dynamic_cast<const LogNormal&>(p);
    const auto& b = dynamic_cast<const LogNormal&>(q);
    return kl_normal_normal(a.loc(), a.scale(), b.loc(), b.scale());
  });
  // |x| folds both Normals the same way, so the Normal formula with loc 0 holds.
  add("HalfNormal", "HalfNormal", [](const Distribution& p, const Distribution& q) {
    const auto& a = dynamic_cast<const HalfNormal&>(p);
    const auto& b = dynamic_cast<const HalfNormal&>(q);
    auto zero = at::zeros({}, a.scale().options());
    return kl_normal_normal(zero, a.scale(), zero, b.scale());
  });
  add("Laplace", "Laplace", [](const Distribution& p, const Distribution& q) {
    return kl_laplace_laplace(dynamic_cast<const Laplace&>(p), dynamic_cast<const Laplace&>(q));
  });
  add("Cauchy", "Cauchy", [](const Distribution& p, const Distribution& q) {
    return kl_cauchy_cauchy(dynamic_cast<const Cauchy&>(p), dynamic_cast<const Cauchy&>(q));
  });
}
}  // namespace kl_detail

}  // namespace amortize::dist
