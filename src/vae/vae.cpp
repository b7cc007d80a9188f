#include "amortize/vae/vae.hpp"

#include "amortize/infer/checkpoint.hpp"
#include "amortize/model/module.hpp"
#include "amortize/model/primitives.hpp"
#include "amortize/vae/binary_image.hpp"
#include "amortize/vae/fused_ops.hpp"
#include "amortize/vae/latent_normal.hpp"

#include <torch/serialize.h>

#include <cmath>

namespace amortize::vae {
namespace {

torch::nn::Linear linear(int64_t in, int64_t out) { return torch::nn::Linear(torch::nn::LinearOptions(in, out)); }

void check_options(const VaeOptions& o) {
  if (o.pixels < 1 || o.hidden < 1 || o.latent < 1) {
    throw std::invalid_argument("Vae: pixels, hidden and latent sizes must be positive");
  }
}

void check_images(const Tensor& x, const Tensor& indices, int64_t pixels, const char* where) {
  if (x.dim() != 2 || x.size(1) != pixels) {
    throw std::invalid_argument(std::string("Vae::") + where + ": images must have shape (batch, " +
                                std::to_string(pixels) + "), got " + dist::shape_string(x.sizes()));
  }
  if (indices.dim() != 1 || indices.size(0) != x.size(0)) {
    throw std::invalid_argument(std::string("Vae::") + where + ": need one index per image, got " +
                                dist::shape_string(indices.sizes()) + " for " + std::to_string(x.size(0)) + " images");
  }
}

}  // namespace

EncoderImpl::EncoderImpl(const VaeOptions& o) {
  hidden = register_module("hidden", linear(o.pixels, o.hidden));
  loc = register_module("loc", linear(o.hidden, o.latent));
  log_scale = register_module("log_scale", linear(o.hidden, o.latent));
}

std::pair<Tensor, Tensor> EncoderImpl::forward(const Tensor& x) {
  auto [mean, log_sd] = loc_and_log_scale(x);
  return {mean, at::exp(log_sd)};
}

std::pair<Tensor, Tensor> EncoderImpl::loc_and_log_scale(const Tensor& x) {
  auto h = vae::linear_softplus(x, hidden->weight, hidden->bias);
  return {vae::linear(h, loc->weight, loc->bias), vae::linear(h, log_scale->weight, log_scale->bias)};
}

DecoderImpl::DecoderImpl(const VaeOptions& o) {
  hidden = register_module("hidden", linear(o.latent, o.hidden));
  logits = register_module("logits", linear(o.hidden, o.pixels));
}

Tensor DecoderImpl::forward(const Tensor& z) {
  return vae::linear(vae::linear_softplus(z, hidden->weight, hidden->bias), logits->weight, logits->bias);
}

Vae::Vae(VaeOptions options, at::Generator generator, c10::TensorOptions tensor_options)
    : options_(options), tensor_options_(tensor_options) {
  check_options(options_);
  encoder_ = Encoder(options_);
  decoder_ = Decoder(options_);
  encoder_->to(tensor_options_.dtype().toScalarType());
  decoder_->to(tensor_options_.dtype().toScalarType());
  encoder_->to(tensor_options_.device());
  decoder_->to(tensor_options_.device());
  at::NoGradGuard no_grad;
  for (auto* m : {static_cast<torch::nn::Module*>(encoder_.get()), static_cast<torch::nn::Module*>(decoder_.get())}) {
    for (auto& child : m->children()) {
      auto* lin = child->as<torch::nn::Linear>();
      if (!lin) continue;
      const double bound = 1.0 / std::sqrt(static_cast<double>(lin->options.in_features()));
      lin->weight.uniform_(-bound, bound, generator);
      lin->bias.uniform_(-bound, bound, generator);
    }
  }
}

void Vae::model(const Tensor& x, const Tensor& indices, int64_t data_size) {
  using namespace amortize::model;
  check_images(x, indices, options_.pixels, "model");
  module("decoder", decoder_);
  auto data = plate("data", data_size, indices);
  auto z = sample("z", StandardNormal({x.size(0)}, options_.latent, x.options()), data);
  sample("x", BinaryImage(decoder_->forward(z)), data, x);
}

void Vae::guide(const Tensor& x, const Tensor& indices, int64_t data_size) {
  using namespace amortize::model;
  check_images(x, indices, options_.pixels, "guide");
  module("encoder", encoder_);
  auto data = plate("data", data_size, indices);
  auto [loc, log_scale] = encoder_->loc_and_log_scale(x);
  sample("z", DiagonalNormal(loc, log_scale), data);
}

Tensor Vae::decode_probs(const Tensor& z) {
  at::NoGradGuard no_grad;
  return at::sigmoid(decoder_->forward(z));
}

std::pair<Tensor, Tensor> Vae::encode(const Tensor& x) {
  at::NoGradGuard no_grad;
  return encoder_->forward(x);
}

void Vae::save(const std::string& path) {
  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive enc, dec;
  encoder_->save(enc);
  decoder_->save(dec);
  archive.write("encoder", enc);
  archive.write("decoder", dec);
  infer::write_checkpoint(archive, path);  // a temporary file renamed into place
}

void Vae::load(const std::string& path) {
  torch::serialize::InputArchive archive;
  infer::read_checkpoint(archive, path);
  // Module::load takes the archive's tensors as they are, whatever their shapes: loaded into
  // copies first, the sizes are checked before this VAE's weights change.
  Encoder encoder(options_);
  Decoder decoder(options_);
  try {
    torch::serialize::InputArchive enc, dec;
    archive.read("encoder", enc);
    archive.read("decoder", dec);
    encoder->load(enc);
    decoder->load(dec);
  } catch (const std::exception& e) {
    throw infer::CheckpointError("checkpoint " + path + ": not a VAE checkpoint (" + infer::first_line(e) + ")");
  }
  at::NoGradGuard no_grad;
  const std::pair<torch::nn::Module*, torch::nn::Module*> pairs[] = {{encoder.get(), encoder_.get()},
                                                                     {decoder.get(), decoder_.get()}};
  for (const bool copy : {false, true}) {  // all checked before any is copied
    for (const auto& [from, to] : pairs) {
      const auto loaded = from->named_parameters();
      for (auto& p : to->named_parameters()) {
        const Tensor* t = loaded.find(p.key());
        if (copy) {
          p.value().copy_(*t);
        } else if (!t || t->sizes() != p.value().sizes()) {
          throw infer::CheckpointError("checkpoint " + path + ": parameter '" + p.key() + "' has shape " +
                                       (t ? dist::shape_string(t->sizes()) : std::string("(missing)")) +
                                       ", this VAE's is " + dist::shape_string(p.value().sizes()));
        }
      }
    }
  }
}

}  // namespace amortize::vae
