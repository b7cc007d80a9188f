#include "amortize/infer/checkpoint.hpp"

#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <system_error>

namespace amortize::infer {
namespace {
constexpr const char* kFormat = "amortize-checkpoint";
constexpr int64_t kVersion = 1;
}  // namespace

std::string first_line(const std::exception& e) {
  const std::string what = e.what();
  return what.substr(0, what.find('\n'));
}

void write_checkpoint(torch::serialize::OutputArchive& archive, const std::filesystem::path& path) {
  archive.write("format", c10::IValue(std::string(kFormat)));
  archive.write("version", c10::IValue(kVersion));
  const std::filesystem::path tmp = path.string() + ".tmp";
  try {
    archive.save_to(tmp.string());
  } catch (const std::exception& e) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw CheckpointError("checkpoint " + path.string() + ": cannot write (" + first_line(e) + ")");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw CheckpointError("checkpoint " + path.string() + ": cannot rename the temporary file into place");
  }
}

void read_checkpoint(torch::serialize::InputArchive& archive, const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw CheckpointError("checkpoint " + path.string() + ": no such file");
  }
  try {
    archive.load_from(path.string());
  } catch (const std::exception& e) {
    throw CheckpointError("checkpoint " + path.string() + ": corrupt or unreadable (" + first_line(e) + ")");
  }
  c10::IValue format;
  c10::IValue version;
  if (!archive.try_read("format", format) || !format.isString() || format.toStringRef() != kFormat ||
      !archive.try_read("version", version) || !version.isInt()) {
    throw CheckpointError("checkpoint " + path.string() + ": not an amortize checkpoint");
  }
  if (version.toInt() != kVersion) {
    throw CheckpointError("checkpoint " + path.string() + ": format version " + std::to_string(version.toInt()) +
                          " is not supported (expected " + std::to_string(kVersion) + ")");
  }
}

void write_named_tensors(torch::serialize::OutputArchive& archive, const std::string& key,
                         const std::map<std::string, Tensor>& tensors) {
  torch::serialize::OutputArchive nested;
  c10::List<std::string> names;
  int64_t index = 0;
  for (const auto& [name, t] : tensors) {
    names.push_back(name);
    nested.write("t" + std::to_string(index++), t.detach(), /*is_buffer=*/true);
  }
  nested.write("names", c10::IValue(names));
  archive.write(key, nested);
}

std::map<std::string, Tensor> read_named_tensors(torch::serialize::InputArchive& archive, const std::string& key) {
  torch::serialize::InputArchive nested;
  archive.read(key, nested);
  c10::IValue names;
  nested.read("names", names);
  std::map<std::string, Tensor> out;
  int64_t index = 0;
  for (const auto& name : names.toListRef()) {
    Tensor t;
    nested.read("t" + std::to_string(index++), t, /*is_buffer=*/true);
    out.emplace(name.toStringRef(), t);
  }
  return out;
}

}  // namespace amortize::infer
