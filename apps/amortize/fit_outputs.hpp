// What `amortize fit` writes from a fitted guide: draws of every latent and deterministic site
// with the model's log joint (log_p__) and the guide's log density (log_g__) at each draw, the
// guide's centre pushed through the model (CmdStan's first row), and the file texts.
#pragma once
#include "amortize/infer/guides/auto_guide.hpp"
#include "amortize/infer/predictive.hpp"

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace amortize::cli {

struct VariationalSample {
  // Latent and deterministic sites in model order, with log p(x, theta) and q(theta) per draw,
  // both on the constrained scale: their difference equals CmdStan's (which works on the
  // unconstrained scale), as the Jacobians cancel, so PSIS diagnostics see the same ratios.
  infer::PosteriorDraws draws;
  std::map<std::string, Tensor> centre;  // the same sites at the guide's median
};

VariationalSample draw_variational_sample(const infer::Program& model, infer::AutoGuide& guide, int64_t num_draws,
                                          uint64_t seed);

// summary.csv: `parameter,mean,sd,q05,q50,q95`, Stan-style names (beta[1]).
std::string summary_csv(const infer::PosteriorDraws& draws);
// draws.csv in CmdStan's variational layout; `settings` become `# key = value` comment lines.
std::string draws_csv(const VariationalSample& sample, const std::vector<std::pair<std::string, std::string>>& settings,
                      double step_size);

// The free comment lines of draws.csv explaining its log-density columns.
std::vector<std::string> draws_csv_notes();

}  // namespace amortize::cli
