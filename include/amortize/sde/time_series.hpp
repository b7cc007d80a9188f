// Time series for ARCTA: several trajectories with their own (possibly uneven) time stamps,
// cut into windows of M consecutive observations (the encoder's input) and into contiguous
// chunks of B windows (one deep-kernel interpolant each). Chunks are drawn at random without
// replacement, epoch after epoch; each chunk's time span runs from its first time to the first
// time of the next chunk of the same trajectory (its own last time for the last chunk), so that
// the chunks' spans tile every trajectory and a chunk's estimate scaled by the number of
// chunks is unbiased for the whole data set.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace amortize::sde {

using Tensor = at::Tensor;

struct TimeSeries {
  Tensor t;  // [N], strictly increasing
  Tensor x;  // [N, ...] observations
};

struct Chunk {
  int64_t trajectory = 0;
  int64_t start = 0;   // index of the first window (= its first observation)
  int64_t length = 0;  // number of windows
  double t_begin = 0, t_end = 0;
};

// The tensors of one chunk.
struct ChunkData {
  Tensor t;        // [B] window times (the time of each window's first observation)
  Tensor windows;  // [B, M * obs] flattened windows (the encoder's input; for images [B, M, ...])
  Tensor x;        // [B, ...] the observation at each window's time
};

class TimeSeriesDataset {
 public:
  // window = M >= 1; every trajectory must hold at least M observations.
  TimeSeriesDataset(std::vector<TimeSeries> series, int64_t window);

  int64_t window() const { return window_; }
  int64_t num_trajectories() const { return static_cast<int64_t>(series_.size()); }
  const TimeSeries& trajectory(int64_t i) const { return series_.at(static_cast<size_t>(i)); }
  int64_t num_windows(int64_t trajectory) const;
  int64_t total_windows() const;  // the data set's size N
  // Observation shape without the time dimension.
  std::vector<int64_t> observation_shape() const;

  // Contiguous chunks of `chunk_size` windows tiling every trajectory (the last may be shorter).
  std::vector<Chunk> chunks(int64_t chunk_size) const;
  // With flatten_windows the windows come as [B, M * prod(obs)], else [B, M, obs...].
  ChunkData chunk_data(const Chunk& chunk, bool flatten_windows = true) const;

 private:
  std::vector<TimeSeries> series_;
  int64_t window_;
};

// Draws chunks uniformly at random without replacement; reshuffles after each epoch.
class ChunkSampler {
 public:
  ChunkSampler(const TimeSeriesDataset& data, int64_t chunk_size, uint64_t seed);
  const std::vector<Chunk>& chunks() const { return chunks_; }
  int64_t num_chunks() const { return static_cast<int64_t>(chunks_.size()); }
  const Chunk& next();

  // The draw order, position and generator as bytes (for checkpoints), and back.
  std::string state() const;
  void set_state(const std::string& state);

 private:
  std::vector<Chunk> chunks_;
  std::vector<size_t> order_;
  size_t position_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace amortize::sde
