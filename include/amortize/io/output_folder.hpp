// The output folder of a run: checked before any work starts (created if missing, then probed
// for writing), and filled only through temporary files renamed into place, so that a failed
// or interrupted run never leaves a half-written file under its final name.
#pragma once
#include "amortize/io/data_file.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace amortize::io {

// Creates `dir` (and its parents) if needed and checks that a file can be written in it.
// Returns true when the folder was created by this call. Throws DataError naming the folder.
bool prepare_output_folder(const std::filesystem::path& dir);

// Removes `dir` if it is empty (used to undo prepare_output_folder after a failed run).
void remove_if_empty(const std::filesystem::path& dir);

// Writes `bytes` to `path` via a temporary file in the same folder and a rename.
void write_file_atomically(const std::filesystem::path& path, const std::string& bytes);

// The temporary name write_file_atomically uses for `path` (".name.tmp" in the same folder).
std::filesystem::path temporary_path(const std::filesystem::path& path);

// A set of output files that appear together: each is written to its temporary name as it is
// added, and commit() renames them all into place. Files never committed (an exception, an
// early return) are removed by the destructor, so the folder keeps no partial output.
class StagedOutputs {
 public:
  explicit StagedOutputs(std::filesystem::path dir) : dir_(std::move(dir)) {}
  ~StagedOutputs();
  StagedOutputs(const StagedOutputs&) = delete;
  StagedOutputs& operator=(const StagedOutputs&) = delete;

  // Writes `bytes` to the temporary file of `file_name` (a name inside the folder).
  void add(const std::string& file_name, const std::string& bytes);
  // The temporary path for `file_name`, for writers that produce the file themselves; call
  // adopt(file_name) once it is written.
  std::filesystem::path staging_path(const std::string& file_name) const;
  void adopt(const std::string& file_name);
  // Renames every staged file into place.
  void commit();

 private:
  std::filesystem::path dir_;
  std::vector<std::string> staged_;
};

}  // namespace amortize::io
