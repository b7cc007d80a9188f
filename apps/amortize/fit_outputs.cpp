#include "fit_outputs.hpp"

#include "amortize/io/draws_csv.hpp"
#include "amortize/model/handlers.hpp"

#include <c10/core/GradMode.h>

#include <sstream>

namespace amortize::cli {
namespace {
bool wanted(const model::Site& s) {
  return (s.kind == model::SiteKind::Sample && !s.observed) || s.kind == model::SiteKind::Deterministic;
}
}  // namespace

VariationalSample draw_variational_sample(const infer::Program& model, infer::AutoGuide& guide, int64_t num_draws,
                                          uint64_t seed) {
  if (num_draws < 1) throw std::invalid_argument("--draws must be positive, got " + std::to_string(num_draws));
  at::NoGradGuard no_grad;
  VariationalSample out;
  out.draws = infer::posterior_draws(model, guide.program(), num_draws, seed);

  // The centre: the guide's median of every latent site, deterministic sites computed from it.
  model::TraceHandler tr;
  {
    model::SubstituteHandler substitute(guide.median());
    model();
  }
  for (const auto& s : tr.trace().sites()) {
    if (wanted(s)) out.centre[s.name] = s.value.detach();
  }
  return out;
}

std::string summary_csv(const infer::PosteriorDraws& draws) {
  std::ostringstream summary;
  summary << "parameter,mean,sd,q05,q50,q95\n";
  summary.precision(8);
  for (const auto& p : infer::summarize(draws)) {
    summary << p.name << ',' << p.mean << ',' << p.sd << ',' << p.q05 << ',' << p.q50 << ',' << p.q95 << '\n';
  }
  return summary.str();
}

std::string draws_csv(const VariationalSample& sample, const std::vector<std::pair<std::string, std::string>>& settings,
                      double step_size) {
  io::VariationalCsv csv;
  for (const auto& [key, value] : settings) csv.add_setting(key, value);
  for (const auto& site : sample.draws.sites) {
    const Tensor& d = sample.draws.draws.at(site);
    auto it = sample.centre.find(site);
    // A site the centre run did not reach keeps the draws' mean as its centre.
    Tensor centre =
        it != sample.centre.end() && it->second.sizes() == d.sizes().slice(1) ? it->second : d.to(at::kDouble).mean(0);
    csv.add_variable(site, centre, d);
  }
  for (const auto& note : draws_csv_notes()) csv.add_comment(note);
  csv.set_log_densities(sample.draws.log_p, sample.draws.log_g);
  csv.set_step_size(step_size);
  return csv.str();
}

std::vector<std::string> draws_csv_notes() {
  return {"log_p__: log p(x, theta), the model's log joint at the draw (constrained scale)",
          "log_g__: log q(theta), the guide's log density at the draw (constrained scale);",
          "  log_p__ - log_g__ equals CmdStan's (unconstrained) difference, as the Jacobians cancel",
          "first row: the guide's centre (median), with lp__, log_p__ and log_g__ written as 0"};
}

}  // namespace amortize::cli
