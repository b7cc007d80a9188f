// How the data-parallel workers split the parameters after their backward passes: every row
// once, equal elements per worker up to a row, and matrices kept whole where the balance allows.
#include "amortize/vae/row_shares.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
#include <vector>

using amortize::vae::RowLayout;
using amortize::vae::RowShare;
using amortize::vae::share_rows;

namespace {
// The VAE's parameters in its store's order: encoder hidden (400 x 784) and its bias, the two
// heads (50 x 400) and biases, decoder hidden (400 x 50) and its output (784 x 400), biases.
std::vector<RowLayout> vae_layout() {
  return {{400, 784, true}, {400, 1, false}, {50, 400, true}, {50, 1, false},   {50, 400, true},
          {50, 1, false},   {400, 50, true}, {400, 1, false}, {784, 400, true}, {784, 1, false}};
}

// Every parameter's rows covered exactly once; returns the elements per worker.
std::vector<int64_t> check_cover(const std::vector<RowLayout>& params,
                                 const std::vector<std::vector<RowShare>>& shares) {
  std::vector<std::vector<int>> covered(params.size());
  for (size_t i = 0; i < params.size(); ++i) covered[i].assign(static_cast<size_t>(params[i].rows), 0);
  std::vector<int64_t> elements;
  for (const auto& mine : shares) {
    int64_t total = 0;
    for (const RowShare& s : mine) {
      EXPECT_LT(s.begin, s.end);
      for (int64_t r = s.begin; r < s.end; ++r) ++covered[s.param][static_cast<size_t>(r)];
      total += (s.end - s.begin) * params[s.param].row_size;
    }
    elements.push_back(total);
  }
  for (size_t i = 0; i < params.size(); ++i) {
    for (int c : covered[i]) EXPECT_EQ(c, 1) << "parameter " << i;
  }
  return elements;
}
}  // namespace

TEST(ShareRows, EveryRowOnceAndEqualElementsUpToARow) {
  const auto params = vae_layout();
  for (int64_t workers : {1, 2, 3, 4, 7}) {
    const auto shares = share_rows(params, workers);
    ASSERT_EQ(static_cast<int64_t>(shares.size()), workers);
    const auto elements = check_cover(params, shares);
    const auto [least, most] = std::minmax_element(elements.begin(), elements.end());
    EXPECT_LE(*most - *least, 784) << workers << " workers";  // at most one of the longest rows
  }
}

TEST(ShareRows, TwoWorkersSplitOnlyTheLastSmallMatrix) {
  // Each worker keeps one large matrix whole; the cut that evens them out falls in the decoder's
  // hidden weight (the smallest matrix left to the busier worker), and the biases follow.
  const auto params = vae_layout();
  const auto shares = share_rows(params, 2);
  std::map<size_t, int> workers_of;
  for (const auto& mine : shares) {
    for (const RowShare& s : mine) ++workers_of[s.param];
  }
  for (const auto& [param, count] : workers_of) EXPECT_EQ(count, param == 6 ? 2 : 1) << "parameter " << param;
  auto holds = [&](size_t worker, size_t param) {
    return std::any_of(shares[worker].begin(), shares[worker].end(),
                       [&](const RowShare& s) { return s.param == param; });
  };
  EXPECT_TRUE(holds(0, 0));
  EXPECT_TRUE(holds(1, 8));
  EXPECT_FALSE(holds(0, 8));
}

TEST(ShareRows, WeightedSharesFollowTheWeightsUpToARowAndKeepTheMatricesOwners) {
  const auto params = vae_layout();
  int64_t total = 0;
  for (const auto& p : params) total += p.rows * p.row_size;
  const std::vector<std::vector<double>> cases{{1.0, 1.0}, {1.05, 0.95}, {1.0, 3.0}, {3.0, 1.0, 2.0}, {0.5}};
  for (const auto& weights : cases) {
    const auto shares = share_rows(params, weights);
    ASSERT_EQ(shares.size(), weights.size());
    const auto elements = check_cover(params, shares);
    double weight_sum = 0.0;
    for (double w : weights) weight_sum += w;
    for (size_t k = 0; k < weights.size(); ++k) {
      const double expected = static_cast<double>(total) * weights[k] / weight_sum;
      EXPECT_LE(std::abs(static_cast<double>(elements[k]) - expected), 784.0) << "worker " << k;
    }
  }
  // Equal weights are the count's shares; a few percent apart only move the cut in the small matrix.
  const auto equal = share_rows(params, 2), weighted = share_rows(params, {1.0, 1.0});
  for (size_t k = 0; k < 2; ++k) {
    ASSERT_EQ(equal[k].size(), weighted[k].size());
    for (size_t i = 0; i < equal[k].size(); ++i) {
      EXPECT_EQ(equal[k][i].param, weighted[k][i].param);
      EXPECT_EQ(equal[k][i].begin, weighted[k][i].begin);
      EXPECT_EQ(equal[k][i].end, weighted[k][i].end);
    }
  }
  // Worker 0 ends, and worker 1 begins, with the small matrices.
  for (const auto& near : {share_rows(params, {1.05, 0.95}), share_rows(params, {0.95, 1.05})}) {
    std::map<size_t, int> workers_of;
    for (const auto& mine : near) {
      for (const RowShare& s : mine) ++workers_of[s.param];
    }
    EXPECT_EQ(workers_of[0], 1);  // the encoder's hidden weight, whole
    EXPECT_EQ(workers_of[8], 1);  // the decoder's output weight, whole
  }
  for (const auto& bad : std::vector<std::vector<double>>{{}, {1.0, 0.0}, {1.0, -1.0}, {1.0, std::nan("")}}) {
    EXPECT_THROW(share_rows(params, bad), std::invalid_argument);
  }
}

TEST(ShareRows, RebalancedWeightsConvergeOnEqualFinishingTimes) {
  // Two workers, one 10 % slower per element, each with the same fixed cost per step as large as
  // half its work (the trap of balancing elements per second): from equal weights the shares
  // must settle where both finish together, and stay there.
  const auto params = vae_layout();
  const std::vector<double> per_element{1.0, 1.1};
  const double fixed = 170000.0;
  auto finishing = [&](const std::vector<double>& weights) {
    const auto elements = check_cover(params, share_rows(params, weights));
    std::vector<double> seconds;
    for (size_t k = 0; k < elements.size(); ++k) seconds.push_back(fixed + per_element[k] * elements[k]);
    return seconds;
  };
  std::vector<double> weights{1.0, 1.0};
  for (int step = 0; step < 300; ++step) weights = amortize::vae::rebalanced_weights(weights, finishing(weights));
  const auto seconds = finishing(weights);
  EXPECT_LT(std::abs(seconds[0] - seconds[1]) / seconds[0], 0.002) << seconds[0] << " vs " << seconds[1];
  EXPECT_NEAR(weights[0] + weights[1], 2.0, 1e-12);
  EXPECT_GT(weights[0], weights[1]);
  // One step in which a worker took a hundred times as long moves the weights by half a percent.
  const auto after_spike = amortize::vae::rebalanced_weights({1.0, 1.0}, {1.0, 100.0});
  EXPECT_NEAR(after_spike[1], 1.0 - 0.005, 1e-3);
  EXPECT_GT(after_spike[0], 1.0);
  // Equal times leave them; no time at all (nothing measured) too.
  EXPECT_EQ(amortize::vae::rebalanced_weights({1.2, 0.8}, {2.0, 2.0}), (std::vector<double>{1.2, 0.8}));
  EXPECT_EQ(amortize::vae::rebalanced_weights({1.2, 0.8}, {0.0, 0.0}), (std::vector<double>{1.2, 0.8}));
  EXPECT_THROW(amortize::vae::rebalanced_weights({1.0}, {1.0, 2.0}), std::invalid_argument);
  EXPECT_THROW(amortize::vae::rebalanced_weights({1.0, 0.0}, {1.0, 2.0}), std::invalid_argument);
}

TEST(ShareRows, MoreWorkersThanRowsLeaveSomeWithout) {
  const std::vector<RowLayout> params{{2, 3, true}};
  const auto shares = share_rows(params, 5);
  const auto elements = check_cover(params, shares);
  EXPECT_EQ(std::count(elements.begin(), elements.end(), 0), 3);
  EXPECT_THROW(share_rows(params, 0), std::invalid_argument);
  EXPECT_TRUE(share_rows({}, 2)[0].empty());
}
