#include "amortize/infer/predictive.hpp"

#include "amortize/model/handlers.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <algorithm>
#include <c10/core/GradMode.h>

namespace amortize::infer {
namespace {
// Hides observed values so that observed sites are drawn afresh.
class Uncondition : public model::Handler {
 public:
  void process(model::Message& msg) override {
    if (msg.kind == model::SiteKind::Sample && msg.observed) {
      msg.observed = false;
      msg.value = Tensor();
    }
  }
};
}  // namespace

PosteriorDraws posterior_draws(const Program& model, const Program& guide, int64_t num_draws, uint64_t seed,
                               bool include_observed, const std::vector<std::string>& only_sites) {
  if (num_draws < 1) throw std::invalid_argument("posterior draws: the number of draws must be positive");
  at::NoGradGuard no_grad;
  PosteriorDraws out;
  std::map<std::string, std::vector<Tensor>> collected;
  std::vector<double> log_p, log_g;
  auto chosen = [&](const std::string& name) {
    return only_sites.empty() || std::find(only_sites.begin(), only_sites.end(), name) != only_sites.end();
  };
  model::SeedHandler seeded(seed);
  for (int64_t i = 0; i < num_draws; ++i) {
    model::Trace guide_trace;
    {
      model::TraceHandler tr;
      guide();
      guide_trace = std::move(tr.trace());
    }
    model::TraceHandler tr;
    {
      model::ReplayHandler replay(guide_trace);
      std::unique_ptr<Uncondition> uncondition;
      if (include_observed) uncondition = std::make_unique<Uncondition>();
      model();
    }
    log_g.push_back(guide_trace.log_prob_sum().item<double>());
    log_p.push_back(tr.trace().log_prob_sum().item<double>());
    for (const auto& s : tr.trace().sites()) {
      const bool wanted = (s.kind == model::SiteKind::Sample && (!s.observed || include_observed)) ||
                          s.kind == model::SiteKind::Deterministic;
      if (!wanted || !chosen(s.name)) continue;
      if (i == 0) out.sites.push_back(s.name);
      collected[s.name].push_back(s.value.detach());
    }
  }
  for (const auto& name : only_sites) {
    if (!collected.count(name)) throw std::invalid_argument("posterior draws: the model has no site '" + name + "' to draw");
  }
  for (auto& [name, values] : collected) out.draws[name] = at::stack(values);
  out.log_p = at::tensor(log_p, at::kDouble);
  out.log_g = at::tensor(log_g, at::kDouble);
  return out;
}

std::vector<std::string> element_names(const std::string& site, at::IntArrayRef shape) {
  std::vector<std::string> names;
  int64_t total = 1;
  for (auto s : shape) total *= s;
  if (shape.empty()) return {site};
  for (int64_t flat = 0; flat < total; ++flat) {
    std::vector<int64_t> index(shape.size());
    int64_t rest = flat;
    for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
      index[d] = rest % shape[d];
      rest /= shape[d];
    }
    std::string name = site + "[";
    for (size_t d = 0; d < index.size(); ++d) name += (d ? "," : "") + std::to_string(index[d] + 1);
    names.push_back(name + "]");
  }
  return names;
}

std::vector<ParameterSummary> summarize(const PosteriorDraws& draws) {
  std::vector<ParameterSummary> out;
  for (const auto& site : draws.sites) {
    const Tensor& d = draws.draws.at(site);
    auto names = element_names(site, d.sizes().slice(1));
    Tensor flat = d.to(at::kDouble).reshape({d.size(0), -1});
    Tensor mean = flat.mean(0), sd = flat.std(0);
    Tensor q = at::quantile(flat, at::tensor({0.05, 0.5, 0.95}, flat.options()), 0);
    for (size_t j = 0; j < names.size(); ++j) {
      const auto jj = static_cast<int64_t>(j);
      out.push_back({names[j], mean[jj].item<double>(), sd[jj].item<double>(), q[0][jj].item<double>(),
                     q[1][jj].item<double>(), q[2][jj].item<double>()});
    }
  }
  return out;
}

}  // namespace amortize::infer
