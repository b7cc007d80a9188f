// Reads a model's data: a JSON object in posteriordb's layout (numbers, integers, arrays and
// arrays of rows) or a CSV file with a header, whose columns become fields. Every accessor checks
// type, length and finiteness and throws a DataError naming the file and the field.
#pragma once
#include <ATen/ATen.h>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace amortize::io {

class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class DataFile {
 public:
  // Reads `path`; the format follows the extension (.json or .csv).
  static DataFile read(const std::string& path);
  static DataFile parse_json(const std::string& text, const std::string& source);
  static DataFile parse_csv(const std::string& text, const std::string& source);

  const std::string& source() const { return source_; }
  bool has(const std::string& field) const { return fields_.count(field) > 0; }
  std::vector<std::string> fields() const;

  int64_t integer(const std::string& field) const;
  double real(const std::string& field) const;
  // A 1-D float64 tensor; `expected_length` >= 0 is checked.
  at::Tensor vector(const std::string& field, int64_t expected_length = -1) const;
  // A 2-D float64 tensor from an array of rows.
  at::Tensor matrix(const std::string& field, int64_t rows = -1, int64_t cols = -1) const;

 private:
  struct Field {
    std::vector<double> values;
    std::vector<int64_t> shape;  // empty for a scalar
  };
  const Field& field(const std::string& name) const;
  [[noreturn]] void fail(const std::string& field, const std::string& what) const;

  std::string source_;
  std::map<std::string, Field> fields_;
};

}  // namespace amortize::io
