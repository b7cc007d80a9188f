// Polyak-Ruppert averages of parameters of the active parameter store, each group of
// parameters over its own window of steps (from its first step to the end of the run). PAVI
// averages its global sites over whole epochs (their subsampling noise cancels only over an
// epoch) but its encoder and local flows over the tail only: they still move early in a long
// window, and averaging them there blurs them.
#pragma once
#include "amortize/dist/tensor_args.hpp"

#include <map>
#include <string>
#include <vector>

namespace amortize::pavi {

class IterateAverage {
 public:
  // Averages `names` over the steps numbered first_step and later. A name belongs to one group.
  void add_group(const std::vector<std::string>& names, int64_t first_step);
  // Adds the store's current values to every group whose window has begun at `step`.
  void record(int64_t step);
  // Writes the averages into the store (groups whose window never began are left as they are).
  void apply();

 private:
  struct Group {
    std::vector<std::string> names;
    int64_t first_step = 0;
    int64_t count = 0;
    std::map<std::string, Tensor> average;
  };
  std::vector<Group> groups_;
};

}  // namespace amortize::pavi
