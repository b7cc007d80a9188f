#include "amortize/io/config.hpp"
#include "amortize/io/data_file.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace amortize::io;

namespace {
const ConfigSchema kSchema = {{"model", ConfigType::String}, {"steps", ConfigType::Integer}, {"lr", ConfigType::Real}};

// The message of the ConfigError that parsing `text` raises ("" when none).
std::string error_of(const std::string& text) {
  try {
    parse_config(text, "run.toml", kSchema);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Config, ReadsKnownKeysWithTheirTypes) {
  auto c = parse_config("# a comment\nmodel = \"sblrc-blr\"\nsteps = 200\nlr = 0.05\n", "run.toml", kSchema);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(std::get<std::string>(c.at("model").value), "sblrc-blr");
  EXPECT_EQ(std::get<int64_t>(c.at("steps").value), 200);
  EXPECT_DOUBLE_EQ(std::get<double>(c.at("lr").value), 0.05);
  EXPECT_EQ(c.at("steps").line, 3);
}

TEST(Config, RealKeyAcceptsAnInteger) {
  auto c = parse_config("lr = 1\n", "run.toml", kSchema);
  EXPECT_DOUBLE_EQ(std::get<double>(c.at("lr").value), 1.0);
}

TEST(Config, EmptyFileIsEmptyConfig) {
  const auto config = parse_config("", "run.toml", kSchema);
  EXPECT_TRUE(config.empty()) << config.size() << " keys";
}

TEST(Config, UnknownKeyNamesFileLineAndKey) {
  const auto e = error_of("model = \"m\"\nstepz = 3\n");
  EXPECT_NE(e.find("run.toml:2:1"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key 'stepz'"), std::string::npos) << e;
  EXPECT_NE(e.find("steps"), std::string::npos) << e;  // the known keys are listed
}

TEST(Config, WrongTypeNamesKeyAndTypes) {
  auto e = error_of("steps = \"many\"\n");
  EXPECT_NE(e.find("run.toml:1:"), std::string::npos) << e;
  EXPECT_NE(e.find("'steps' must be an integer, got a string"), std::string::npos) << e;
  e = error_of("\n\nsteps = 2.5\n");
  EXPECT_NE(e.find("run.toml:3:"), std::string::npos) << e;
  e = error_of("model = 3\n");
  EXPECT_NE(e.find("'model' must be a string"), std::string::npos) << e;
  e = error_of("[model]\nname = \"x\"\n");
  EXPECT_NE(e.find("'model' must be a string, got a table"), std::string::npos) << e;
}

TEST(Config, SyntaxErrorNamesLineAndColumn) {
  const auto e = error_of("model = \"m\"\nsteps = = 3\n");
  EXPECT_NE(e.find("run.toml:2:"), std::string::npos) << e;
  EXPECT_NE(e.find("TOML syntax error"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;  // one line
}

TEST(Config, MissingFileIsAConfigError) {
  EXPECT_THROW(read_config("/nonexistent/run.toml", kSchema), ConfigError);
  EXPECT_THROW(read_config("/tmp", kSchema), ConfigError);
}

TEST(DataFileNonFinite, StanJsonStringsBecomeNonFiniteValues) {
  auto d = DataFile::parse_json(R"({"a": [1, "NaN"], "b": ["-Inf", 2], "c": "Inf"})", "d.json");
  try {
    d.vector("a");
    FAIL() << "NaN accepted";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("field 'a' holds a non-finite value"), std::string::npos) << e.what();
  }
  EXPECT_THROW(d.vector("b"), DataError);
  EXPECT_THROW(d.real("c"), DataError);
}

TEST(DataFileNonFinite, OtherStringsAreTypeErrors) {
  try {
    DataFile::parse_json(R"({"d": [1, "x"]})", "d.json");
    FAIL() << "a string accepted";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("field 'd' holds a string"), std::string::npos) << e.what();
  }
}

TEST(DataFileRead, FolderAndMissingFileAreNamed) {
  try {
    DataFile::read("/tmp");
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("/tmp: is a folder"), std::string::npos) << e.what();
  }
  try {
    DataFile::read("/nonexistent.json");
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent.json: no such file"), std::string::npos) << e.what();
  }
}
