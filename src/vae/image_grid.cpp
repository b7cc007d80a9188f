#include "amortize/vae/image_grid.hpp"

#include "amortize/io/data_file.hpp"

#include <zlib.h>

#include <fstream>

namespace amortize::vae {
namespace {

void put_u32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xFF));
}

void chunk(std::string& out, const char* type, const std::string& data) {
  put_u32(out, static_cast<uint32_t>(data.size()));
  const std::string body = std::string(type, 4) + data;
  out += body;
  put_u32(out, static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()))));
}

}  // namespace

void write_png_grid(const std::string& path, const Tensor& images, int64_t columns, int64_t height) {
  if (images.dim() < 2 || images.size(0) < 1) throw std::invalid_argument("write_png_grid: need (N, H, W) or (N, H*W) images");
  if (columns < 1 || height < 1) throw std::invalid_argument("write_png_grid: columns and height must be positive");
  const int64_t n = images.size(0);
  Tensor tiles = images.detach().to(at::kCPU).to(at::kFloat).reshape({n, height, -1}).clamp(0, 1);
  const int64_t width = tiles.size(2);
  const int64_t rows = (n + columns - 1) / columns;
  const int64_t gap = 1;
  const int64_t img_w = columns * (width + gap) + gap, img_h = rows * (height + gap) + gap;
  // Each scanline starts with filter byte 0 (none); the background is mid grey.
  std::string raw(static_cast<size_t>(img_h * (img_w + 1)), static_cast<char>(128));
  for (int64_t y = 0; y < img_h; ++y) raw[static_cast<size_t>(y * (img_w + 1))] = 0;
  auto acc = tiles.accessor<float, 3>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t oy = gap + (i / columns) * (height + gap), ox = gap + (i % columns) * (width + gap);
    for (int64_t y = 0; y < height; ++y) {
      for (int64_t x = 0; x < width; ++x) {
        raw[static_cast<size_t>((oy + y) * (img_w + 1) + 1 + ox + x)] = static_cast<char>(static_cast<uint8_t>(acc[i][y][x] * 255.0f + 0.5f));
      }
    }
  }
  uLongf packed_size = compressBound(static_cast<uLong>(raw.size()));
  std::string packed(packed_size, '\0');
  if (compress2(reinterpret_cast<Bytef*>(&packed[0]), &packed_size, reinterpret_cast<const Bytef*>(raw.data()),
                static_cast<uLong>(raw.size()), 9) != Z_OK) {
    throw io::DataError("PNG '" + path + "': compression failed");
  }
  packed.resize(packed_size);
  std::string png("\x89PNG\r\n\x1a\n", 8);
  std::string header;
  put_u32(header, static_cast<uint32_t>(img_w));
  put_u32(header, static_cast<uint32_t>(img_h));
  header += std::string("\x08\x00\x00\x00\x00", 5);  // 8-bit grey, deflate, filter 0, no interlace
  chunk(png, "IHDR", header);
  chunk(png, "IDAT", packed);
  chunk(png, "IEND", "");
  std::ofstream out(path, std::ios::binary);
  if (!out) throw io::DataError("PNG '" + path + "': cannot open for writing");
  out.write(png.data(), static_cast<std::streamsize>(png.size()));
  if (!out) throw io::DataError("PNG '" + path + "': write failed");
}

}  // namespace amortize::vae
