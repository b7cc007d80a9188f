#include "amortize/io/data_file.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace amortize::io {
namespace {
std::string read_text(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw DataError(path + ": is a folder, not a data file");
  if (!std::filesystem::exists(path, ec)) throw DataError(path + ": no such file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(path + ": cannot open file for reading");
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) throw DataError(path + ": cannot read file");
  return out.str();
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Line and column (1-based) of a byte offset, for parse errors.
std::string position(const std::string& text, size_t offset) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(col);
}

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::string cell;
  std::istringstream in(line);
  while (std::getline(in, cell, sep)) out.push_back(cell);
  if (!line.empty() && line.back() == sep) out.emplace_back();
  return out;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  return s.substr(i);
}
}  // namespace

DataFile DataFile::read(const std::string& path) {
  std::string text = read_text(path);
  if (ends_with(path, ".csv")) return parse_csv(text, path);
  return parse_json(text, path);
}

DataFile DataFile::parse_json(const std::string& text, const std::string& source) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // nlohmann's message reads "[json...] parse error at line L, column C: what"; keep the what.
    std::string what = e.what();
    auto colon = what.find(": ", what.find("parse error"));
    throw DataError(source + ": malformed JSON at " + position(text, e.byte > 0 ? e.byte - 1 : 0) + ": " +
                    (colon == std::string::npos ? what : what.substr(colon + 2)));
  }
  if (!doc.is_object()) throw DataError(source + ": expected a JSON object of named fields");
  DataFile data;
  data.source_ = source;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    Field f;
    const auto& v = it.value();
    auto number = [&](const nlohmann::json& x) -> double {
      if (x.is_number()) return x.get<double>();
      if (x.is_null()) return std::nan("");  // NaN is written as null by most JSON writers
      if (x.is_string()) {  // CmdStan's JSON spells non-finite values as strings
        const auto& t = x.get_ref<const std::string&>();
        if (t == "NaN" || t == "nan") return std::nan("");
        if (t == "Inf" || t == "inf" || t == "Infinity" || t == "+Inf") return HUGE_VAL;
        if (t == "-Inf" || t == "-inf" || t == "-Infinity") return -HUGE_VAL;
      }
      throw DataError(source + ": field '" + it.key() + "' holds a " + x.type_name() + " where a number belongs");
    };
    if (v.is_array()) {
      f.shape = {static_cast<int64_t>(v.size())};
      if (!v.empty() && v.front().is_array()) {
        const size_t cols = v.front().size();
        f.shape.push_back(static_cast<int64_t>(cols));
        for (size_t r = 0; r < v.size(); ++r) {
          if (!v[r].is_array() || v[r].size() != cols) {
            throw DataError(source + ": field '" + it.key() + "' row " + std::to_string(r + 1) + " has " +
                            std::to_string(v[r].is_array() ? v[r].size() : 1) + " values, expected " + std::to_string(cols));
          }
          for (const auto& x : v[r]) f.values.push_back(number(x));
        }
      } else {
        for (const auto& x : v) f.values.push_back(number(x));
      }
    } else {
      f.values.push_back(number(v));
    }
    data.fields_[it.key()] = std::move(f);
  }
  return data;
}

DataFile DataFile::parse_csv(const std::string& text, const std::string& source) {
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || trim(line).empty()) throw DataError(source + ": empty CSV file (expected a header)");
  auto header = split(trim(line), ',');
  std::vector<std::vector<double>> columns(header.size());
  size_t line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    line = trim(line);
    if (line.empty()) continue;
    auto cells = split(line, ',');
    if (cells.size() != header.size()) {
      throw DataError(source + ": line " + std::to_string(line_no) + " has " + std::to_string(cells.size()) +
                      " columns, the header has " + std::to_string(header.size()));
    }
    for (size_t c = 0; c < cells.size(); ++c) {
      const std::string cell = trim(cells[c]);
      char* end = nullptr;
      double x = std::strtod(cell.c_str(), &end);
      if (cell.empty() || end != cell.c_str() + cell.size()) {
        throw DataError(source + ": line " + std::to_string(line_no) + ", column " + std::to_string(c + 1) + " ('" +
                        trim(header[c]) + "'): '" + cell + "' is not a number");
      }
      columns[c].push_back(x);
    }
  }
  DataFile data;
  data.source_ = source;
  for (size_t c = 0; c < header.size(); ++c) {
    Field f;
    f.shape = {static_cast<int64_t>(columns[c].size())};
    f.values = std::move(columns[c]);
    data.fields_[trim(header[c])] = std::move(f);
  }
  return data;
}

std::vector<std::string> DataFile::fields() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : fields_) out.push_back(k);
  return out;
}

const DataFile::Field& DataFile::field(const std::string& name) const {
  auto it = fields_.find(name);
  if (it == fields_.end()) fail(name, "is missing");
  for (size_t i = 0; i < it->second.values.size(); ++i) {
    if (!std::isfinite(it->second.values[i])) {
      fail(name, "holds a non-finite value (NaN or Inf) at element " + std::to_string(i + 1));
    }
  }
  return it->second;
}

void DataFile::fail(const std::string& name, const std::string& what) const {
  throw DataError(source_ + ": field '" + name + "' " + what);
}

int64_t DataFile::integer(const std::string& name) const {
  const auto& f = field(name);
  if (!f.shape.empty()) fail(name, "must be a single integer");
  if (f.values[0] != std::floor(f.values[0])) fail(name, "must be an integer, got " + std::to_string(f.values[0]));
  return static_cast<int64_t>(f.values[0]);
}

double DataFile::real(const std::string& name) const {
  const auto& f = field(name);
  if (!f.shape.empty()) fail(name, "must be a single number");
  return f.values[0];
}

at::Tensor DataFile::vector(const std::string& name, int64_t expected_length) const {
  const auto& f = field(name);
  if (f.shape.size() != 1) fail(name, "must be an array of numbers");
  if (expected_length >= 0 && f.shape[0] != expected_length) {
    fail(name, "has length " + std::to_string(f.shape[0]) + ", expected " + std::to_string(expected_length));
  }
  return at::tensor(f.values, at::kDouble);
}

at::Tensor DataFile::matrix(const std::string& name, int64_t rows, int64_t cols) const {
  const auto& f = field(name);
  if (f.shape.size() != 2) fail(name, "must be an array of rows");
  if ((rows >= 0 && f.shape[0] != rows) || (cols >= 0 && f.shape[1] != cols)) {
    fail(name, "has shape " + std::to_string(f.shape[0]) + " x " + std::to_string(f.shape[1]) + ", expected " +
                   std::to_string(rows) + " x " + std::to_string(cols));
  }
  return at::tensor(f.values, at::kDouble).reshape({f.shape[0], f.shape[1]});
}

}  // namespace amortize::io
