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

EpochBatches::EpochBatches(int64_t size) : size_(size) {
  if (size < 1) throw std::invalid_argument("EpochBatches: plate size must be positive, got " + std::to_string(size));
}

Tensor EpochBatches::next(int64_t batch, at::Generator& generator) {
  if (batch < 1 || batch > size_) {
    throw std::invalid_argument("EpochBatches: batch " + std::to_string(batch) + " must be in [1, " +
                                std::to_string(size_) + "]");
  }
  auto long_opts = at::TensorOptions().dtype(at::kLong);
  if (batch == size_) return at::arange(size_, long_opts);
  if (!order_.defined() || cursor_ + batch > size_) {
    order_ = at::randperm(size_, generator, long_opts);
    cursor_ = 0;
    ++epochs_;
  }
  Tensor out = order_.narrow(0, cursor_, batch).clone();
  cursor_ += batch;
  return out;
}

std::map<std::string, Tensor> EpochBatches::state() const {
  auto long_opts = at::TensorOptions().dtype(at::kLong);
  std::map<std::string, Tensor> s{{"position", at::tensor({size_, cursor_, epochs_}, long_opts)}};
  if (order_.defined()) s["order"] = order_;
  return s;
}

void EpochBatches::load_state(const std::map<std::string, Tensor>& state) {
  auto it = state.find("position");
  if (it == state.end() || it->second.numel() != 3) throw std::invalid_argument("EpochBatches: state has no position");
  Tensor pos = it->second.to(at::kLong);
  if (pos[0].item<int64_t>() != size_) {
    throw std::invalid_argument("EpochBatches: state is for a plate of size " + std::to_string(pos[0].item<int64_t>()) +
                                ", not " + std::to_string(size_));
  }
  cursor_ = pos[1].item<int64_t>();
  epochs_ = pos[2].item<int64_t>();
  auto order = state.find("order");
  order_ = order == state.end() ? Tensor() : order->second.to(at::kLong).clone();
  if (order_.defined() && order_.numel() != size_)
    throw std::invalid_argument("EpochBatches: state's order has the wrong size");
}

}  // namespace amortize::pavi
