#include "amortize/io/config.hpp"

#include <toml++/toml.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace amortize::io {
namespace {
std::string where(const std::string& source, const toml::source_position& pos) {
  return source + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column);
}

const char* type_name(ConfigType t) {
  switch (t) {
    case ConfigType::String:
      return "a string";
    case ConfigType::Integer:
      return "an integer";
    case ConfigType::Real:
      return "a number";
  }
  return "?";
}

const char* node_type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    default:
      return "a date or time";
  }
}

std::string known_keys(const ConfigSchema& schema) {
  std::string out;
  for (const auto& [key, type] : schema) out += (out.empty() ? "" : ", ") + key;
  return out;
}
}  // namespace

Config parse_config(const std::string& text, const std::string& source, const ConfigSchema& schema) {
  toml::table table;
  try {
    table = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw ConfigError(where(source, e.source().begin) + ": TOML syntax error: " + std::string(e.description()));
  }
  Config out;
  for (auto&& [key, node] : table) {
    const std::string name(key.str());
    const auto pos = key.source().begin.line > 0 ? key.source().begin : node.source().begin;
    auto it = schema.find(name);
    if (it == schema.end()) {
      throw ConfigError(where(source, pos) + ": unknown key '" + name + "' (known: " + known_keys(schema) + ")");
    }
    ConfigEntry entry;
    entry.line = static_cast<int64_t>(pos.line);
    entry.column = static_cast<int64_t>(pos.column);
    const ConfigType want = it->second;
    if (want == ConfigType::String && node.is_string()) {
      entry.value = node.as_string()->get();
    } else if (want == ConfigType::Integer && node.is_integer()) {
      entry.value = node.as_integer()->get();
    } else if (want == ConfigType::Real && node.is_floating_point()) {
      entry.value = node.as_floating_point()->get();
    } else if (want == ConfigType::Real && node.is_integer()) {
      entry.value = static_cast<double>(node.as_integer()->get());
    } else {
      throw ConfigError(where(source, pos) + ": key '" + name + "' must be " + type_name(want) + ", got " +
                        node_type_name(node.type()));
    }
    out[name] = std::move(entry);
  }
  return out;
}

Config read_config(const std::string& path, const ConfigSchema& schema) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw ConfigError(path + ": is a folder, not a config file");
  if (!std::filesystem::exists(path, ec)) throw ConfigError(path + ": no such config file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot open config file for reading");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError(path + ": cannot read config file");
  return parse_config(text.str(), path, schema);
}

}  // namespace amortize::io
