// posteriordb's reference posteriors (../shared/data/posteriordb, from the repository root):
// their NUTS summaries, and how far a fitted summary is from them in reference sds.
#pragma once
#include "amortize/infer/predictive.hpp"

#include <map>
#include <string>

namespace amortize::models {

struct ReferenceStats {
  double mean, sd;
};

std::string posteriordb_dir(const std::string& posterior);
std::map<std::string, ReferenceStats> read_reference_summary(const std::string& posterior);

struct AccuracyReport {
  double worst_mean_error_in_sds = 0;  // max |mean - ref| / ref sd
  double worst_sd_ratio_deviation = 0;  // max |sd / ref sd - 1|
  double min_sd_ratio = 0;              // range of sd / ref sd over the parameters
  double max_sd_ratio = 0;
  std::string worst_parameter;
  std::string summary;  // one line per parameter
};

AccuracyReport compare(const std::vector<infer::ParameterSummary>& fitted,
                       const std::map<std::string, ReferenceStats>& reference);

}  // namespace amortize::models
