// Image grids a person can look at: images tiled into a grey-level PNG (8-bit, written with
// zlib, no other dependency), with a one-pixel gap between tiles.
#pragma once
#include "amortize/dist/tensor_args.hpp"

#include <string>

namespace amortize::vae {

// `images` (N, H, W) or (N, H*W) with `height` given, values in [0, 1] (1 drawn white);
// tiled `columns` per row. Throws io::DataError naming the file if it cannot be written.
void write_png_grid(const std::string& path, const Tensor& images, int64_t columns, int64_t height = 28);

}  // namespace amortize::vae
