// Checkpoint files: a torch::serialize archive (parameters, optimiser state, RNG state, loop
// counters) written to `<path>.tmp` and then renamed over `<path>`, so a crash mid-write never
// leaves a corrupt checkpoint. Reading a missing, truncated or foreign file throws a
// CheckpointError whose one-line message names the file.
#pragma once
#include "amortize/dist/tensor_args.hpp"

#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>

namespace torch::serialize {
class OutputArchive;
class InputArchive;
}  // namespace torch::serialize

namespace amortize::infer {

class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Marks `archive` as an amortize checkpoint (format tag and version) and writes it atomically.
void write_checkpoint(torch::serialize::OutputArchive& archive, const std::filesystem::path& path);
// Loads a checkpoint written by write_checkpoint into `archive`.
void read_checkpoint(torch::serialize::InputArchive& archive, const std::filesystem::path& path);

// The first line of an exception's message (LibTorch's carry stack traces), for one-line errors.
std::string first_line(const std::exception& e);

// Named tensors (any names: dots, brackets, slashes) in a nested archive under `key`.
void write_named_tensors(torch::serialize::OutputArchive& archive, const std::string& key,
                         const std::map<std::string, Tensor>& tensors);
std::map<std::string, Tensor> read_named_tensors(torch::serialize::InputArchive& archive, const std::string& key);

}  // namespace amortize::infer
