// Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) from Debian's dataset-fashion-mnist package:
// 60,000 training and 10,000 test images of 28x28 grey levels in IDX files. The VAE sees them
// binarised: each pixel scaled to [0, 1] and set to 1 when above 0.5.
#pragma once
#include "amortize/dist/tensor_args.hpp"

#include <string>

namespace amortize::vae {

// Where Debian's package installs the files.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

struct ImageSet {
  Tensor train;  // (60000, 784), 0/1 values
  Tensor test;   // (10000, 784)
};

// Reads train-images-idx3-ubyte and t10k-images-idx3-ubyte (".gz" or not) from `dir`; the
// images come binarised and flattened, in the dtype of `options`. Debian's folder must hold all
// 60,000 + 10,000; another folder may hold any number of 28 x 28 images of those names.
ImageSet load_fashion_mnist(const std::string& dir = kFashionMnistDir, c10::TensorOptions options = at::kFloat);

// (N, H, W) or (N, H*W) images of any dtype -> (N, H*W) of 0/1 values: uint8 grey levels are
// scaled by 1/255 first, floating values are taken as already in [0, 1].
Tensor binarize(const Tensor& images, c10::TensorOptions options = at::kFloat);

// Reads an IDX image file (N, H, W) or (N, P) and binarises it; `source` names it in errors.
Tensor read_images(const std::string& path, int64_t pixels, c10::TensorOptions options = at::kFloat);

}  // namespace amortize::vae
