#include "amortize/io/output_folder.hpp"

#include <fstream>
#include <system_error>

namespace amortize::io {
namespace fs = std::filesystem;

bool prepare_output_folder(const fs::path& dir) {
  if (dir.empty()) throw DataError("output folder: empty path");
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
    throw DataError(dir.string() + ": output folder exists and is not a folder");
  }
  bool created = false;
  if (!fs::exists(dir, ec)) {
    created = fs::create_directories(dir, ec);
    if (ec || !fs::is_directory(dir)) {
      throw DataError(dir.string() + ": cannot create output folder (" + ec.message() + ")");
    }
  }
  const fs::path probe = dir / ".amortize_write_probe";
  {
    std::ofstream test(probe, std::ios::binary);
    test << "probe";
    if (!test) {
      if (created) remove_if_empty(dir);
      throw DataError(dir.string() + ": output folder is not writable");
    }
  }
  fs::remove(probe, ec);
  return created;
}

void remove_if_empty(const fs::path& dir) {
  std::error_code ec;
  if (fs::is_directory(dir, ec) && fs::is_empty(dir, ec)) fs::remove(dir, ec);
}

fs::path temporary_path(const fs::path& path) { return path.parent_path() / ("." + path.filename().string() + ".tmp"); }

void write_file_atomically(const fs::path& path, const std::string& bytes) {
  const fs::path tmp = temporary_path(path);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw DataError(path.string() + ": cannot write (temporary file " + tmp.string() + ")");
    out << bytes;
    out.flush();
    if (!out) {
      out.close();
      std::error_code ec;
      fs::remove(tmp, ec);
      throw DataError(path.string() + ": write failed");
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw DataError(path.string() + ": cannot rename the temporary file into place");
  }
}

StagedOutputs::~StagedOutputs() {
  std::error_code ec;
  for (const auto& name : staged_) fs::remove(staging_path(name), ec);
}

fs::path StagedOutputs::staging_path(const std::string& file_name) const { return temporary_path(dir_ / file_name); }

void StagedOutputs::add(const std::string& file_name, const std::string& bytes) {
  const fs::path tmp = staging_path(file_name);
  staged_.push_back(file_name);
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  if (!out) throw DataError((dir_ / file_name).string() + ": cannot write");
  out << bytes;
  out.flush();
  if (!out) throw DataError((dir_ / file_name).string() + ": write failed");
}

void StagedOutputs::adopt(const std::string& file_name) {
  if (!fs::exists(staging_path(file_name))) {
    throw DataError((dir_ / file_name).string() + ": nothing was written to adopt");
  }
  staged_.push_back(file_name);
}

void StagedOutputs::commit() {
  for (size_t i = 0; i < staged_.size(); ++i) {
    std::error_code ec;
    fs::rename(staging_path(staged_[i]), dir_ / staged_[i], ec);
    if (ec) {
      staged_.erase(staged_.begin(), staged_.begin() + static_cast<std::ptrdiff_t>(i));
      throw DataError((dir_ / staged_.front()).string() + ": cannot rename the temporary file into place");
    }
  }
  staged_.clear();
}

}  // namespace amortize::io
