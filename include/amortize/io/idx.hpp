// The IDX format of MNIST-style data sets: a 4-byte magic (two zero bytes, an element-type code,
// the number of dimensions), one big-endian uint32 per dimension, then the elements big-endian
// in row-major order. Files may be gzip-compressed (as Debian ships them); the reader detects it.
// Malformed input (wrong magic, unknown type, truncated or over-long payload, a corrupt gzip
// stream) throws a DataError whose one-line message names the file.
#pragma once
#include "amortize/io/data_file.hpp"

#include <ATen/ATen.h>

#include <string>

namespace amortize::io {

// The tensor's dtype follows the element type: uint8 -> kByte, int8 -> kChar, int16 -> kShort,
// int32 -> kInt, float32 -> kFloat, float64 -> kDouble; its shape is the header's. CPU, contiguous.
at::Tensor read_idx(const std::string& path);
// Parses the bytes of an (uncompressed) IDX file; `source` names it in error messages.
at::Tensor parse_idx(const std::string& bytes, const std::string& source);
// Writes a CPU tensor of one of the dtypes above; gzip-compressed when `path` ends in ".gz".
void write_idx(const std::string& path, const at::Tensor& values);

}  // namespace amortize::io
