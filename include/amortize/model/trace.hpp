// A trace is the record of one run of a model or guide: every site in the order visited,
// with its distribution, value, plates, scale and mask. Objectives are computed from traces.
#pragma once
#include "amortize/model/message.hpp"

#include <string>
#include <unordered_map>
#include <vector>

namespace amortize::model {

struct Site : Message {
  // log_prob of the value, masked but not scaled (shape: the distribution's batch shape).
  Tensor log_prob() const;
  // Sum of the scaled, masked log-density over all dims.
  Tensor scaled_log_prob_sum() const;
  bool is_latent() const { return kind == SiteKind::Sample && !observed; }

 private:
  mutable Tensor cached_log_prob_;
};

class Trace {
 public:
  void add(const Message& msg);
  bool contains(const std::string& name) const { return index_.count(name) > 0; }
  const Site& at(const std::string& name) const;
  Site& at(const std::string& name);
  const std::vector<Site>& sites() const { return sites_; }
  std::vector<Site>& sites() { return sites_; }
  // Sum of scaled log-densities of every sample and factor site.
  Tensor log_prob_sum() const;

 private:
  std::vector<Site> sites_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace amortize::model
