#include "amortize/model/trace.hpp"

#include "amortize/model/handler.hpp"

namespace amortize::model {

Tensor Site::log_prob() const {
  if (cached_log_prob_.defined()) return cached_log_prob_;
  Tensor lp = kind == SiteKind::Factor ? value : dist->log_prob(value);
  if (mask.defined()) lp = at::where(mask, lp, at::zeros_like(lp));
  cached_log_prob_ = lp;
  return lp;
}

Tensor Site::scaled_log_prob_sum() const {
  Tensor s = log_prob().sum();
  return scale == 1.0 ? s : s * scale;
}

void Trace::add(const Message& msg) {
  // A parameter may be read several times in one run; the first read stands for all.
  if (msg.kind == SiteKind::Param && index_.count(msg.name)) return;
  if (index_.count(msg.name)) throw ModelError("site '" + msg.name + "' appears twice in one run (names must be unique)");
  index_.emplace(msg.name, sites_.size());
  Site s;
  static_cast<Message&>(s) = msg;
  sites_.push_back(std::move(s));
}

const Site& Trace::at(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) throw ModelError("site '" + name + "' is not in the trace");
  return sites_[it->second];
}

Site& Trace::at(const std::string& name) {
  return const_cast<Site&>(static_cast<const Trace&>(*this).at(name));
}

Tensor Trace::log_prob_sum() const {
  Tensor total;
  for (const auto& s : sites_) {
    if (s.kind != SiteKind::Sample && s.kind != SiteKind::Factor) continue;
    Tensor term = s.scaled_log_prob_sum();
    total = total.defined() ? total + term : term;
  }
  return total.defined() ? total : at::zeros({});
}

}  // namespace amortize::model
