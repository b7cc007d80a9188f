// Settings files: a flat TOML table whose keys are a command's long options without the dashes
// (`steps = 4000`, `model = "sblrc-blr"`). The caller gives the known keys and their types;
// an unknown key, a value of the wrong type or a TOML syntax error is a ConfigError naming
// the file, line and column (and the key).
#pragma once
#include "amortize/io/data_file.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <variant>

namespace amortize::io {

class ConfigError : public DataError {
 public:
  using DataError::DataError;
};

enum class ConfigType { String, Integer, Real };

using ConfigValue = std::variant<std::string, int64_t, double>;

struct ConfigEntry {
  ConfigValue value;
  int64_t line = 0;  // where the key is, for later messages (e.g. a value out of range)
  int64_t column = 0;
};

using ConfigSchema = std::map<std::string, ConfigType>;
using Config = std::map<std::string, ConfigEntry>;

// Reads and checks `path` against `schema`. A Real key also accepts an integer.
Config read_config(const std::string& path, const ConfigSchema& schema);
// The same from text; `source` names it in messages.
Config parse_config(const std::string& text, const std::string& source, const ConfigSchema& schema);

}  // namespace amortize::io
