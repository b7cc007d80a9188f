#include "posteriordb_reference.hpp"

#include <algorithm>

#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace amortize::models {

std::string posteriordb_dir(const std::string& posterior) {
  return "../shared/data/posteriordb/" + posterior;
}

std::map<std::string, ReferenceStats> read_reference_summary(const std::string& posterior) {
  const std::string path = posteriordb_dir(posterior) + "/reference_summary.csv";
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open");
  std::string line;
  std::getline(in, line);  // header: parameter,mean,sd,q5,q50,q95,draws
  std::map<std::string, ReferenceStats> out;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    // Names like beta[1] hold no commas; theta[1,2] would, so split from the right.
    std::vector<std::string> cells;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) cells.push_back(cell);
    const size_t n = cells.size();
    std::string name = cells[0];
    if (n < 7) throw std::runtime_error(path + ": expected 7 columns in '" + line + "'");
    for (size_t i = 1; i + 6 < n; ++i) name += "," + cells[i];
    out[name] = {std::stod(cells[n - 6]), std::stod(cells[n - 5])};
  }
  return out;
}

AccuracyReport compare(const std::vector<infer::ParameterSummary>& fitted,
                       const std::map<std::string, ReferenceStats>& reference) {
  AccuracyReport report;
  std::ostringstream lines;
  bool first = true;
  for (const auto& [name, ref] : reference) {
    auto it = std::find_if(fitted.begin(), fitted.end(), [&](const auto& p) { return p.name == name; });
    if (it == fitted.end()) throw std::runtime_error("fitted summary lacks reference parameter " + name);
    const double err = std::abs(it->mean - ref.mean) / ref.sd;
    const double ratio = it->sd / ref.sd;
    if (err > report.worst_mean_error_in_sds) {
      report.worst_mean_error_in_sds = err;
      report.worst_parameter = name;
    }
    report.worst_sd_ratio_deviation = std::max(report.worst_sd_ratio_deviation, std::abs(ratio - 1));
    report.min_sd_ratio = first ? ratio : std::min(report.min_sd_ratio, ratio);
    report.max_sd_ratio = first ? ratio : std::max(report.max_sd_ratio, ratio);
    lines << name << ": mean error " << err << " sd, sd ratio " << ratio << "\n";
    first = false;
  }
  report.summary = lines.str();
  return report;
}

}  // namespace amortize::models
