#include "amortize/pavi/batching.hpp"

#include <stdexcept>
#include <string>
#include <unordered_set>

namespace amortize::pavi {

Tensor sample_without_replacement(int64_t n, int64_t k, at::Generator& generator) {
  if (k < 1 || k > n) {
    throw std::invalid_argument("sample_without_replacement: k = " + std::to_string(k) + " must be in [1, " +
                                std::to_string(n) + "]");
  }
  auto long_opts = at::TensorOptions().dtype(at::kLong);
  if (k == n) return at::arange(n, long_opts);
  if (2 * k > n) return at::randperm(n, generator, long_opts).narrow(0, 0, k);
  // Floyd: for j = n-k .. n-1 draw t uniform in [0, j]; take t unless already taken, else j.
  Tensor u = at::rand({k}, generator, at::TensorOptions().dtype(at::kDouble));
  const double* pu = u.data_ptr<double>();
  Tensor out = at::empty({k}, long_opts);
  int64_t* po = out.data_ptr<int64_t>();
  std::unordered_set<int64_t> taken;
  taken.reserve(static_cast<size_t>(2 * k));
  for (int64_t i = 0; i < k; ++i) {
    const int64_t j = n - k + i;
    int64_t t = static_cast<int64_t>(pu[i] * static_cast<double>(j + 1));
    if (t > j) t = j;
    if (!taken.insert(t).second) {
      t = j;
      taken.insert(t);
    }
    po[i] = t;
  }
  // Floyd's set is uniform but its order is not: shuffle (k is small).
  return out.index_select(0, at::randperm(k, generator, long_opts));
}

}  // namespace amortize::pavi
