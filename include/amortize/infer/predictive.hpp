// Draws from a fitted guide pushed through the model: every latent and deterministic site of
// the model (and observed sites' fresh predictive draws when asked), one run per draw, each
// from the given seed. Also Stan-style summaries of the draws (mean, sd, 5/50/95 % quantiles).
#pragma once
#include "amortize/infer/elbo.hpp"

#include <map>
#include <string>
#include <vector>

namespace amortize::infer {

struct PosteriorDraws {
  std::vector<std::string> sites;      // in model order
  std::map<std::string, Tensor> draws;  // site -> (num_draws, site shape...)
  // Per draw (float64): the model's log joint and the guide's log density at the draw, both
  // on the constrained scale (their difference is the importance log-ratio).
  Tensor log_p, log_g;
};

// Draws from the guide pushed through the model: latent and deterministic sites, and with
// `include_observed` new values of the observed sites too (posterior predictive). A non-empty
// `only_sites` keeps just those sites (an unknown name is an error).
PosteriorDraws posterior_draws(const Program& model, const Program& guide, int64_t num_draws, uint64_t seed,
                               bool include_observed = false, const std::vector<std::string>& only_sites = {});

struct ParameterSummary {
  std::string name;  // Stan style: beta[2] (1-based)
  double mean, sd, q05, q50, q95;
};

std::vector<ParameterSummary> summarize(const PosteriorDraws& draws);
// Element names of a site of the given shape: "mu", or "beta[1]", "beta[2]", or "L[1,2]".
std::vector<std::string> element_names(const std::string& site, at::IntArrayRef shape);

}  // namespace amortize::infer
