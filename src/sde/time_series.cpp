#include "amortize/sde/time_series.hpp"

#include <algorithm>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>

namespace amortize::sde {

TimeSeriesDataset::TimeSeriesDataset(std::vector<TimeSeries> series, int64_t window)
    : series_(std::move(series)), window_(window) {
  if (window < 1) throw std::invalid_argument("TimeSeriesDataset: window must be >= 1, got " + std::to_string(window));
  if (series_.empty()) throw std::invalid_argument("TimeSeriesDataset: no trajectories");
  for (size_t i = 0; i < series_.size(); ++i) {
    const auto& s = series_[i];
    const std::string where = "TimeSeriesDataset: trajectory " + std::to_string(i);
    if (!s.t.defined() || s.t.dim() != 1) throw std::invalid_argument(where + ": t must be 1-D");
    if (!s.x.defined() || s.x.dim() < 1 || s.x.size(0) != s.t.size(0))
      throw std::invalid_argument(where + ": x must have as many rows as t");
    if (s.t.size(0) < window) throw std::invalid_argument(where + ": fewer observations than the window");
    if (s.t.size(0) > 1 && !(s.t.diff() > 0).all().item<bool>())
      throw std::invalid_argument(where + ": times must be strictly increasing");
    if (i > 0 && s.x.sizes().slice(1) != series_[0].x.sizes().slice(1))
      throw std::invalid_argument(where + ": observation shape differs from trajectory 0");
  }
}

int64_t TimeSeriesDataset::num_windows(int64_t trajectory_index) const {
  return trajectory(trajectory_index).t.size(0) - window_ + 1;
}

int64_t TimeSeriesDataset::total_windows() const {
  int64_t n = 0;
  for (int64_t i = 0; i < num_trajectories(); ++i) n += num_windows(i);
  return n;
}

std::vector<int64_t> TimeSeriesDataset::observation_shape() const { return series_[0].x.sizes().slice(1).vec(); }

std::vector<Chunk> TimeSeriesDataset::chunks(int64_t chunk_size) const {
  if (chunk_size < 2) throw std::invalid_argument("TimeSeriesDataset::chunks: chunk_size must be >= 2");
  std::vector<Chunk> out;
  for (int64_t k = 0; k < num_trajectories(); ++k) {
    const int64_t n = num_windows(k);
    const Tensor t = trajectory(k).t.to(at::kDouble).contiguous();
    const double* tp = t.data_ptr<double>();
    for (int64_t start = 0; start < n; start += chunk_size) {
      Chunk c;
      c.trajectory = k;
      c.start = start;
      c.length = std::min(chunk_size, n - start);
      c.t_begin = tp[start];
      c.t_end = start + c.length < n ? tp[start + c.length] : tp[start + c.length - 1];
      if (c.length < 2 && start + c.length >= n && !out.empty() && out.back().trajectory == k) {
        // A single trailing window cannot carry an interpolant: merge it into the previous chunk.
        out.back().length += c.length;
        out.back().t_end = c.t_end;
        continue;
      }
      out.push_back(c);
    }
  }
  return out;
}

ChunkData TimeSeriesDataset::chunk_data(const Chunk& chunk, bool flatten_windows) const {
  const auto& s = trajectory(chunk.trajectory);
  ChunkData d;
  d.t = s.t.narrow(0, chunk.start, chunk.length);
  d.x = s.x.narrow(0, chunk.start, chunk.length);
  if (window_ == 1) {
    d.windows = d.x.unsqueeze(1);
  } else {
    std::vector<Tensor> parts;
    parts.reserve(static_cast<size_t>(window_));
    for (int64_t j = 0; j < window_; ++j) parts.push_back(s.x.narrow(0, chunk.start + j, chunk.length));
    d.windows = at::stack(parts, 1);
  }
  if (flatten_windows) d.windows = d.windows.reshape({chunk.length, -1});
  return d;
}

ChunkSampler::ChunkSampler(const TimeSeriesDataset& data, int64_t chunk_size, uint64_t seed)
    : chunks_(data.chunks(chunk_size)), order_(chunks_.size()), rng_(seed) {
  std::iota(order_.begin(), order_.end(), size_t{0});
  std::shuffle(order_.begin(), order_.end(), rng_);
}

const Chunk& ChunkSampler::next() {
  if (position_ == order_.size()) {
    std::shuffle(order_.begin(), order_.end(), rng_);
    position_ = 0;
  }
  return chunks_[order_[position_++]];
}

std::string ChunkSampler::state() const {
  std::ostringstream out;
  out << position_ << ' ' << order_.size();
  for (const size_t i : order_) out << ' ' << i;
  out << ' ' << rng_;
  return out.str();
}

void ChunkSampler::set_state(const std::string& state) {
  std::istringstream in(state);
  size_t position = 0, n = 0;
  in >> position >> n;
  if (!in || n != order_.size() || position > n)
    throw std::invalid_argument("ChunkSampler::set_state: the state is for another number of chunks");
  std::vector<size_t> order(n);
  for (auto& i : order) {
    in >> i;
    if (i >= n) throw std::invalid_argument("ChunkSampler::set_state: a chunk index is out of range");
  }
  std::mt19937_64 rng;
  in >> rng;
  if (!in) throw std::invalid_argument("ChunkSampler::set_state: malformed state");
  order_ = std::move(order);
  position_ = position;
  rng_ = rng;
}

}  // namespace amortize::sde
