// How the data-parallel workers split the parameters for the work that follows their backward
// passes: each parameter's rows (a matrix's gradient products and the update of every
// parameter) go to workers in shares of about equal elements each (or in given proportions). No LibTorch here.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace amortize::vae {

// Rows [begin, end) of parameter `param`.
struct RowShare {
  size_t param = 0;
  int64_t begin = 0, end = 0;
};

// One parameter's layout: `rows` rows of `row_size` elements; matrices also need products.
struct RowLayout {
  int64_t rows = 0, row_size = 1;
  bool matrix = false;
};

// Each of `workers` workers' shares of the parameters, together every row once and each with
// the same number of elements up to a row. The matrices go whole, largest first, to the worker
// with the fewest elements so far; the workers' matrices then follow each other in turn (odd
// workers' smallest first), and the other parameters follow the matrices. The cuts that even the
// workers out fall in the small matrices next to them, or in the other parameters.
std::vector<std::vector<RowShare>> share_rows(const std::vector<RowLayout>& params, int64_t workers);
// The same with worker k's elements in proportion to weights[k] (say, its measured speed): one
// worker per weight, each positive and finite (else std::invalid_argument).
std::vector<std::vector<RowShare>> share_rows(const std::vector<RowLayout>& params, const std::vector<double>& weights);

// The next step's weights from this step's: each worker's `seconds` to finish its share, against
// the mean, lowers its weight a little when it finished later (raises it when earlier), so that
// the shares converge on equal finishing times; one slow step barely moves them. Normalised to
// mean 1. Throws std::invalid_argument if the sizes differ or a weight is not positive.
std::vector<double> rebalanced_weights(std::vector<double> weights, const std::vector<double>& seconds);

}  // namespace amortize::vae
