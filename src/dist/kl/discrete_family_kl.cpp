#include "../discrete/discrete_math.hpp"
#include "amortize/dist/discrete/bernoulli.hpp"
#include "amortize/dist/discrete/binomial.hpp"
#include "amortize/dist/discrete/categorical.hpp"
#include "amortize/dist/discrete/poisson.hpp"
#include "amortize/dist/kl/kl_divergence.hpp"

namespace amortize::dist {
namespace {
using discrete_math::weighted_or_zero;

// sum over x in {0, 1} of P(x) (log P(x) - log Q(x)); a term with P(x) = 0 is 0, one with
// Q(x) = 0 < P(x) is +inf.
Tensor kl_binary(const Tensor& p, const Tensor& log_p1, const Tensor& log_p0, const Tensor& log_q1,
                 const Tensor& log_q0) {
  return weighted_or_zero(p, log_p1 - log_q1) + weighted_or_zero(1 - p, log_p0 - log_q0);
}

Tensor kl_bernoulli(const Distribution& p, const Distribution& q) {
  const auto& a = dynamic_cast<const Bernoulli&>(p);
  const auto& b = dynamic_cast<const Bernoulli&>(q);
  return kl_binary(a.probs(), a.log_prob_one(), a.log_prob_zero(), b.log_prob_one(), b.log_prob_zero());
}

// KL(Bin(n, p) || Bin(n, q)) = n KL(Bern(p) || Bern(q)); different trial counts have no closed form here.
Tensor kl_binomial(const Distribution& p, const Distribution& q) {
  const auto& a = dynamic_cast<const Binomial&>(p);
  const auto& b = dynamic_cast<const Binomial&>(q);
  if ((a.total_count() != b.total_count()).any().item<bool>()) {
    throw DistributionError("kl_divergence: KL(Binomial || Binomial) needs equal total_count in both distributions");
  }
  const auto per_trial =
      kl_binary(a.probs(), a.log_success_prob(), a.log_failure_prob(), b.log_success_prob(), b.log_failure_prob());
  return weighted_or_zero(a.total_count(), per_trial);
}

Tensor kl_categorical(const Distribution& p, const Distribution& q) {
  const auto& a = dynamic_cast<const Categorical&>(p);
  const auto& b = dynamic_cast<const Categorical&>(q);
  if (a.num_categories() != b.num_categories()) {
    throw DistributionError("kl_divergence: KL(Categorical || Categorical) needs the same number of categories, got " +
                            std::to_string(a.num_categories()) + " and " + std::to_string(b.num_categories()));
  }
  return weighted_or_zero(a.probs(), a.logits() - b.logits()).sum(-1);
}

// r_p log(r_p / r_q) - r_p + r_q, with 0 log 0 = 0.
Tensor kl_poisson(const Distribution& p, const Distribution& q) {
  const auto& rp = dynamic_cast<const Poisson&>(p).rate();
  const auto& rq = dynamic_cast<const Poisson&>(q).rate();
  return at::xlogy(rp, rp) - at::xlogy(rp, rq) - rp + rq;
}
}  // namespace

namespace kl_detail {
void register_discrete_family(const std::function<void(std::string, std::string, KLFunction)>& add) {
  add("Bernoulli", "Bernoulli", kl_bernoulli);
  add("Binomial", "Binomial", kl_binomial);
  add("Categorical", "Categorical", kl_categorical);
  add("Poisson", "Poisson", kl_poisson);
}
}  // namespace kl_detail

}  // namespace amortize::dist
