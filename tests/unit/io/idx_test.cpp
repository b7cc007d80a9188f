#include "amortize/io/idx.hpp"
#include "assertions.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

using namespace amortize;

namespace {
namespace fs = std::filesystem;

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / ("amortize_idx_test_" + std::to_string(::getpid()) + "_" + name)).string();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A 2x3 uint8 file written by hand: magic 00 00 08 02, dims 2 and 3, then 6 bytes.
std::string tiny_ubyte() {
  return std::string("\0\0\x08\x02\0\0\0\x02\0\0\0\x03", 12) + std::string("\x01\x02\x03\xfd\xfe\xff", 6);
}

// `f` throws a DataError whose message is one line and contains every fragment.
::testing::AssertionResult throws_one_line_data_error(const std::function<void()>& f,
                                                      const std::vector<std::string>& fragments) {
  const auto what = amortize::testing::error_message<io::DataError>(f);
  if (!what) return ::testing::AssertionFailure() << "no DataError thrown";
  if (what->find('\n') != std::string::npos) return ::testing::AssertionFailure() << "not one line: " << *what;
  return amortize::testing::contains_all(*what, fragments);
}
}  // namespace

TEST(Idx, ReadsAHandWrittenUbyteFile) {
  const auto path = temp_path("tiny.idx");
  write_bytes(path, tiny_ubyte());
  auto t = io::read_idx(path);
  EXPECT_EQ(t.scalar_type(), at::kByte);
  EXPECT_EQ(t.sizes(), (at::IntArrayRef{2, 3}));
  EXPECT_EQ(t[0][0].item<int>(), 1);
  EXPECT_EQ(t[1][0].item<int>(), 253);
  EXPECT_EQ(t[1][2].item<int>(), 255);
  fs::remove(path);
}

TEST(Idx, ReadsBigEndianIntegersAndFloats) {
  // int32 0x01020304 and float32 1.5 (0x3fc00000), written big-endian.
  auto i = io::parse_idx(std::string("\0\0\x0c\x01\0\0\0\x01\x01\x02\x03\x04", 12), "int");
  EXPECT_EQ(i.scalar_type(), at::kInt);
  EXPECT_EQ(i[0].item<int>(), 0x01020304);
  auto f = io::parse_idx(std::string("\0\0\x0d\x01\0\0\0\x01\x3f\xc0\0\0", 12), "float");
  EXPECT_EQ(f.scalar_type(), at::kFloat);
  EXPECT_EQ(f[0].item<float>(), 1.5f);
}

TEST(Idx, RoundTripsEveryTypePlainAndGzipped) {
  for (auto dtype : {at::kByte, at::kChar, at::kShort, at::kInt, at::kFloat, at::kDouble}) {
    auto values = (at::arange(24, at::kDouble) * 3 - 30).reshape({2, 3, 4});
    if (dtype == at::kByte) values = values.abs();
    values = values.to(dtype);
    for (const std::string ext : {".idx", ".idx.gz"}) {
      const auto path = temp_path(std::string(c10::toString(dtype)) + ext);
      io::write_idx(path, values);
      auto back = io::read_idx(path);
      EXPECT_EQ(back.scalar_type(), dtype) << ext;
      EXPECT_TRUE(back.equal(values)) << c10::toString(dtype) << ext;
      fs::remove(path);
    }
  }
}

TEST(Idx, TruncatedFilesAreClearErrors) {
  const auto path = temp_path("truncated.idx");
  const std::string good = tiny_ubyte();
  write_bytes(path, good.substr(0, good.size() - 1));  // one pixel missing
  EXPECT_TRUE(throws_one_line_data_error([&] { io::read_idx(path); }, {path, "truncated", "2x3"}));
  write_bytes(path, good.substr(0, 6));  // inside the dimensions
  EXPECT_TRUE(throws_one_line_data_error([&] { io::read_idx(path); }, {path, "truncated header"}));
  write_bytes(path, good.substr(0, 2));
  EXPECT_TRUE(throws_one_line_data_error([&] { io::read_idx(path); }, {path, "truncated header"}));
  fs::remove(path);
  // A gzip stream cut short: the compressed bytes end before the stream does.
  const auto gz = temp_path("truncated.idx.gz");
  io::write_idx(gz, at::arange(5000, at::kInt));
  std::ifstream in(gz, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  write_bytes(gz, bytes.substr(0, bytes.size() / 2));
  EXPECT_TRUE(throws_one_line_data_error([&] { io::read_idx(gz); }, {gz}));
  fs::remove(gz);
}

TEST(Idx, MalformedHeadersAreClearErrors) {
  const auto path = temp_path("bad.idx");
  std::string bad = tiny_ubyte();
  bad[0] = 'P';  // e.g. a PNG handed in by mistake
  write_bytes(path, bad);
  EXPECT_TRUE(throws_one_line_data_error([&] { io::read_idx(path); }, {path, "magic"}));
  bad = tiny_ubyte();
  bad[2] = '\x07';
  write_bytes(path, bad);
  EXPECT_TRUE(throws_one_line_data_error([&] { io::read_idx(path); }, {path, "element type"}));
  bad = tiny_ubyte();
  bad[11] = '\x02';  // header says 2x2 but 6 bytes follow
  write_bytes(path, bad);
  EXPECT_TRUE(throws_one_line_data_error([&] { io::read_idx(path); }, {path, "wrong dimensions", "2x2"}));
  bad = tiny_ubyte();
  bad[11] = '\x04';  // header says 2x4: the payload is short
  write_bytes(path, bad);
  EXPECT_TRUE(throws_one_line_data_error([&] { io::read_idx(path); }, {path, "truncated"}));
  fs::remove(path);
  EXPECT_TRUE(throws_one_line_data_error([&] { io::read_idx(temp_path("does_not_exist.idx")); },
                                         {"does_not_exist.idx", "cannot open"}));
}
