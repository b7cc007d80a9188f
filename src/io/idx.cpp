#include "amortize/io/idx.hpp"

#include <zlib.h>

#include <cstring>
#include <fstream>
#include <limits>

namespace amortize::io {
namespace {

[[noreturn]] void fail(const std::string& source, const std::string& what) {
  throw DataError("IDX file '" + source + "': " + what);
}

struct ElementType {
  at::ScalarType dtype;
  int64_t bytes;
};

bool element_type(uint8_t code, ElementType& out) {
  switch (code) {
    case 0x08: out = {at::kByte, 1}; return true;
    case 0x09: out = {at::kChar, 1}; return true;
    case 0x0B: out = {at::kShort, 2}; return true;
    case 0x0C: out = {at::kInt, 4}; return true;
    case 0x0D: out = {at::kFloat, 4}; return true;
    case 0x0E: out = {at::kDouble, 8}; return true;
    default: return false;
  }
}

uint8_t type_code(at::ScalarType dtype, const std::string& path) {
  switch (dtype) {
    case at::kByte: return 0x08;
    case at::kChar: return 0x09;
    case at::kShort: return 0x0B;
    case at::kInt: return 0x0C;
    case at::kFloat: return 0x0D;
    case at::kDouble: return 0x0E;
    default: throw std::invalid_argument("write_idx('" + path + "'): unsupported dtype " + std::string(c10::toString(dtype)));
  }
}

bool little_endian() {
  const uint16_t one = 1;
  uint8_t first = 0;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

// Reverses each element's bytes in place (big-endian <-> host order on little-endian hosts).
void swap_elements(char* data, int64_t count, int64_t width) {
  if (width == 1 || !little_endian()) return;
  for (int64_t i = 0; i < count; ++i) {
    char* e = data + i * width;
    for (int64_t a = 0, b = width - 1; a < b; ++a, --b) std::swap(e[a], e[b]);
  }
}

std::string read_all(const std::string& path) {
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) fail(path, "cannot open for reading");
  }
  gzFile file = gzopen(path.c_str(), "rb");  // reads plain files unchanged
  if (!file) fail(path, "cannot open for reading");
  std::string bytes;
  char buffer[1 << 16];
  while (true) {
    const int n = gzread(file, buffer, sizeof(buffer));
    if (n < 0) {
      int code = 0;
      std::string message = gzerror(file, &code);
      gzclose(file);
      fail(path, "corrupt gzip stream (" + message + ")");
    }
    if (n == 0) break;
    bytes.append(buffer, static_cast<size_t>(n));
  }
  int code = 0;
  std::string message = gzerror(file, &code);
  gzclose(file);
  if (code != Z_OK) fail(path, "corrupt or truncated gzip stream (" + message + ")");
  return bytes;
}

}  // namespace

at::Tensor parse_idx(const std::string& bytes, const std::string& source) {
  if (bytes.size() < 4) fail(source, "truncated header: " + std::to_string(bytes.size()) + " bytes, need at least 4");
  const auto* u = reinterpret_cast<const uint8_t*>(bytes.data());
  if (u[0] != 0 || u[1] != 0) fail(source, "wrong magic number (the first two bytes must be zero): not an IDX file");
  ElementType type{};
  if (!element_type(u[2], type)) fail(source, "unknown element type code " + std::to_string(u[2]));
  const int64_t ndim = u[3];
  if (ndim == 0) fail(source, "zero dimensions in the header");
  const size_t header = 4 + 4 * static_cast<size_t>(ndim);
  if (bytes.size() < header) {
    fail(source, "truncated header: " + std::to_string(bytes.size()) + " bytes, need " + std::to_string(header) +
                     " for " + std::to_string(ndim) + " dimensions");
  }
  std::vector<int64_t> shape(ndim);
  int64_t count = 1;
  for (int64_t d = 0; d < ndim; ++d) {
    const uint8_t* p = u + 4 + 4 * d;
    const uint64_t size = (uint64_t{p[0]} << 24) | (uint64_t{p[1]} << 16) | (uint64_t{p[2]} << 8) | uint64_t{p[3]};
    shape[d] = static_cast<int64_t>(size);
    if (size != 0 && count > std::numeric_limits<int64_t>::max() / type.bytes / static_cast<int64_t>(size)) {
      fail(source, "dimensions too large");
    }
    count *= static_cast<int64_t>(size);
  }
  const uint64_t payload = bytes.size() - header;
  const uint64_t expected = static_cast<uint64_t>(count * type.bytes);
  if (payload != expected) {
    std::string dims;
    for (int64_t d = 0; d < ndim; ++d) dims += (d ? "x" : "") + std::to_string(shape[d]);
    fail(source, std::string(payload < expected ? "truncated" : "wrong dimensions") + ": header says " + dims +
                     " elements of " + std::to_string(type.bytes) + " bytes (" + std::to_string(expected) +
                     " bytes) but the file holds " + std::to_string(payload));
  }
  at::Tensor out = at::empty(shape, at::TensorOptions().dtype(type.dtype));
  if (count > 0) {
    std::memcpy(out.data_ptr(), bytes.data() + header, expected);
    swap_elements(static_cast<char*>(out.data_ptr()), count, type.bytes);
  }
  return out;
}

at::Tensor read_idx(const std::string& path) { return parse_idx(read_all(path), path); }

void write_idx(const std::string& path, const at::Tensor& values) {
  if (values.device().type() != at::kCPU) throw std::invalid_argument("write_idx('" + path + "'): tensor must be on the CPU");
  if (values.dim() < 1 || values.dim() > 255) throw std::invalid_argument("write_idx('" + path + "'): needs 1 to 255 dimensions");
  const uint8_t code = type_code(values.scalar_type(), path);
  std::string bytes{'\0', '\0', static_cast<char>(code), static_cast<char>(values.dim())};
  for (int64_t d = 0; d < values.dim(); ++d) {
    const auto size = static_cast<uint64_t>(values.size(d));
    if (size > std::numeric_limits<uint32_t>::max()) throw std::invalid_argument("write_idx('" + path + "'): dimension too large");
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>((size >> shift) & 0xFF));
  }
  const at::Tensor flat = values.contiguous();
  const size_t header = bytes.size();
  const int64_t width = static_cast<int64_t>(flat.element_size());
  bytes.resize(header + static_cast<size_t>(flat.numel() * width));
  if (flat.numel() > 0) {
    std::memcpy(&bytes[header], flat.data_ptr(), static_cast<size_t>(flat.numel() * width));
    swap_elements(&bytes[header], flat.numel(), width);
  }
  const bool gz = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  if (gz) {
    gzFile file = gzopen(path.c_str(), "wb");
    if (!file) throw DataError("IDX file '" + path + "': cannot open for writing");
    const int n = bytes.empty() ? 0 : gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size()));
    if (gzclose(file) != Z_OK || n != static_cast<int>(bytes.size())) throw DataError("IDX file '" + path + "': write failed");
    return;
  }
  std::ofstream out(path, std::ios::binary);
  if (!out) throw DataError("IDX file '" + path + "': cannot open for writing");
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw DataError("IDX file '" + path + "': write failed");
}

}  // namespace amortize::io
