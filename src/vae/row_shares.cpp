#include "amortize/vae/row_shares.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

namespace amortize::vae {

std::vector<std::vector<RowShare>> share_rows(const std::vector<RowLayout>& params, int64_t workers) {
  if (workers < 1)
    throw std::invalid_argument("share_rows: workers must be at least 1, got " + std::to_string(workers));
  return share_rows(params, std::vector<double>(static_cast<size_t>(workers), 1.0));
}

std::vector<std::vector<RowShare>> share_rows(const std::vector<RowLayout>& params,
                                              const std::vector<double>& weights) {
  const auto workers = static_cast<int64_t>(weights.size());
  if (workers < 1) throw std::invalid_argument("share_rows: no workers");
  double weight_sum = 0.0;
  for (double w : weights) {
    if (!(w > 0.0) || !std::isfinite(w)) {
      throw std::invalid_argument("share_rows: worker weights must be positive and finite, got " + std::to_string(w));
    }
    weight_sum += w;
  }
  // Worker k ends at this fraction of the elements.
  std::vector<double> ends(static_cast<size_t>(workers));
  double cumulative = 0.0;
  for (size_t k = 0; k < ends.size(); ++k) ends[k] = (cumulative += weights[k]) / weight_sum;
  std::vector<size_t> by_size(params.size());
  std::iota(by_size.begin(), by_size.end(), size_t{0});
  auto numel = [&](size_t i) { return params[i].rows * params[i].row_size; };
  std::stable_sort(by_size.begin(), by_size.end(), [&](size_t a, size_t b) { return numel(a) > numel(b); });
  // Whole matrices to the least loaded worker; the sequence lists each worker's in turn, then the rest.
  std::vector<std::vector<size_t>> owned(static_cast<size_t>(workers));
  std::vector<int64_t> load(static_cast<size_t>(workers), 0);
  for (size_t i : by_size) {
    if (!params[i].matrix) continue;
    // As for equal weights, so that uneven ones move only the cuts (a matrix cut in two costs a
    // further product).
    const auto least = static_cast<size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    owned[least].push_back(i);
    load[least] += numel(i);
  }
  // Odd workers list theirs smallest first: between two workers the small matrices meet, so cuts
  // that uneven weights move stay out of the large ones.
  std::vector<size_t> sequence;
  for (size_t k = 0; k < owned.size(); ++k) {
    if (k % 2 == 1) std::reverse(owned[k].begin(), owned[k].end());
    sequence.insert(sequence.end(), owned[k].begin(), owned[k].end());
  }
  for (size_t i = 0; i < params.size(); ++i) {
    if (!params[i].matrix) sequence.push_back(i);
  }
  int64_t total = 0;
  for (size_t i : sequence) total += numel(i);
  // Worker k takes the sequence's elements from total * ends[k - 1] to total * ends[k], to the nearest row.
  std::vector<std::vector<RowShare>> shares(static_cast<size_t>(workers));
  int64_t offset = 0;
  for (size_t i : sequence) {
    const RowLayout& p = params[i];
    auto row_at = [&](int64_t k) {
      const double cut = static_cast<double>(total) * ends[static_cast<size_t>(k - 1)];
      const auto row =
          static_cast<int64_t>(std::llround((cut - static_cast<double>(offset)) / static_cast<double>(p.row_size)));
      return std::clamp<int64_t>(row, 0, p.rows);
    };
    for (int64_t k = 0; k < workers; ++k) {
      const int64_t begin = k == 0 ? 0 : row_at(k), end = k + 1 == workers ? p.rows : row_at(k + 1);
      if (begin < end) shares[static_cast<size_t>(k)].push_back({i, begin, end});
    }
    offset += numel(i);
  }
  return shares;
}

std::vector<double> rebalanced_weights(std::vector<double> weights, const std::vector<double>& seconds) {
  // About 5 % of the gap per step, at most 0.5 %: following elements per second instead diverges
  // (a fixed cost per step makes a smaller share look slower, so it shrinks further).
  constexpr double kRate = 0.05, kClip = 0.1;
  if (weights.empty() || weights.size() != seconds.size()) {
    throw std::invalid_argument("rebalanced_weights: " + std::to_string(weights.size()) + " weights for " +
                                std::to_string(seconds.size()) + " times");
  }
  double mean = 0.0;
  for (double s : seconds) mean += s / static_cast<double>(seconds.size());
  if (!(mean > 0.0) || !std::isfinite(mean)) return weights;
  double sum = 0.0;
  for (size_t k = 0; k < weights.size(); ++k) {
    if (!(weights[k] > 0.0)) throw std::invalid_argument("rebalanced_weights: weights must be positive");
    weights[k] *= std::exp(-kRate * std::clamp(seconds[k] / mean - 1.0, -kClip, kClip));
    sum += weights[k];
  }
  for (double& w : weights) w *= static_cast<double>(weights.size()) / sum;
  return weights;
}

}  // namespace amortize::vae
