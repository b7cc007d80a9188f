#include "amortize/vae/fashion_mnist.hpp"

#include "amortize/io/idx.hpp"

#include <filesystem>

namespace amortize::vae {
namespace {

std::string find_file(const std::string& dir, const std::string& stem) {
  namespace fs = std::filesystem;
  for (const std::string ext : {".gz", ""}) {
    const auto path = fs::path(dir) / (stem + ext);
    if (fs::exists(path)) return path.string();
  }
  throw io::DataError("Fashion-MNIST: no " + stem + "(.gz) in '" + dir +
                      "' (install Debian's dataset-fashion-mnist: scripts/setup does)");
}

}  // namespace

Tensor binarize(const Tensor& images, c10::TensorOptions options) {
  if (images.dim() < 2) throw std::invalid_argument("binarize: images need at least 2 dimensions (N, pixels)");
  Tensor flat = images.reshape({images.size(0), -1});
  Tensor scaled = flat.scalar_type() == at::kByte ? flat.to(at::kFloat) / 255.0 : flat.to(at::kDouble);
  return (scaled > 0.5).to(options);
}

Tensor read_images(const std::string& path, int64_t pixels, c10::TensorOptions options) {
  Tensor raw = io::read_idx(path);
  if (raw.dim() < 2) throw io::DataError("IDX file '" + path + "': expected images (N, H, W), got 1 dimension");
  const int64_t per_image = raw.numel() / std::max<int64_t>(raw.size(0), 1);
  if (per_image != pixels) {
    throw io::DataError("IDX file '" + path + "': images have " + std::to_string(per_image) + " pixels, the model needs " +
                        std::to_string(pixels));
  }
  return binarize(raw, options);
}

ImageSet load_fashion_mnist(const std::string& dir, c10::TensorOptions options) {
  ImageSet set;
  set.train = read_images(find_file(dir, "train-images-idx3-ubyte"), 784, options);
  set.test = read_images(find_file(dir, "t10k-images-idx3-ubyte"), 784, options);
  // Debian's package must be whole; another folder may hold any number of 28 x 28 images.
  std::error_code error;
  const bool package = std::filesystem::equivalent(dir, kFashionMnistDir, error);
  if ((package && (set.train.size(0) != 60000 || set.test.size(0) != 10000)) || set.train.size(0) < 1 ||
      set.test.size(0) < 1) {
    throw io::DataError("Fashion-MNIST in '" + dir + "': expected " + std::string(package ? "60000 + 10000" : "at least 1 + 1") + " images, found " +
                        std::to_string(set.train.size(0)) + " + " + std::to_string(set.test.size(0)));
  }
  return set;
}

}  // namespace amortize::vae
