#include "amortize/infer/guides/split_sites.hpp"

#include <torch/csrc/autograd/custom_function.h>

#include <cstring>
#include <functional>
#include <numeric>
#include <stdexcept>

namespace amortize::infer {
namespace {
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Copies columns [offset, offset + width) of a row-major (rows, d) block into or out of a
// contiguous (rows, width) one.
template <bool kGather>
void copy_columns(const Tensor& joint, const Tensor& piece, int64_t offset, int64_t width) {
  const int64_t d = joint.size(-1);
  const int64_t rows = width == 0 ? 0 : piece.numel() / width;
  const size_t bytes = static_cast<size_t>(width) * joint.element_size();
  auto* j = static_cast<char*>(joint.data_ptr());
  auto* p = static_cast<char*>(piece.data_ptr());
  for (int64_t r = 0; r < rows; ++r) {
    char* jr = j + (r * d + offset) * joint.element_size();
    char* pr = p + r * width * joint.element_size();
    if (kGather) {
      std::memcpy(pr, jr, bytes);
    } else {
      std::memcpy(jr, pr, bytes);
    }
  }
}

// The per-site pieces by LibTorch operations (any device or layout; differentiable as usual).
std::vector<Tensor> split_by_ops(const Tensor& joint, const std::vector<int64_t>& sizes,
                                 const std::vector<Shape>& shapes) {
  std::vector<Tensor> out;
  int64_t offset = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    out.push_back(joint.narrow(-1, offset, sizes[i]).reshape(shapes[i]));
    offset += sizes[i];
  }
  return out;
}

class SplitSites : public torch::autograd::Function<SplitSites> {
 public:
  static variable_list forward(AutogradContext* ctx, const Tensor& joint, const std::vector<int64_t>& sizes,
                               const std::vector<Shape>& shapes) {
    ctx->saved_data["sizes"] = sizes;
    ctx->saved_data["joint_shape"] = joint.sizes().vec();
    variable_list out;
    out.reserve(sizes.size());
    int64_t offset = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      out.push_back(at::empty(shapes[i], joint.options()));
      copy_columns<true>(joint, out.back(), offset, sizes[i]);
      offset += sizes[i];
    }
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto sizes = ctx->saved_data["sizes"].toIntVector();
    const auto joint_shape = ctx->saved_data["joint_shape"].toIntVector();
    const Tensor* any = nullptr;
    for (const auto& g : grads) {
      if (g.defined()) any = &g;
    }
    if (!any) return {Tensor(), Tensor(), Tensor()};
    if (at::GradMode::is_enabled()) {  // a graph of the gradient (create_graph): differentiable operations
      std::vector<Tensor> parts;
      for (size_t i = 0; i < sizes.size(); ++i) {
        Shape shape(joint_shape.begin(), joint_shape.end() - 1);
        shape.push_back(sizes[i]);
        parts.push_back(grads[i].defined() ? grads[i].reshape(shape) : at::zeros(shape, any->options()));
      }
      return {at::cat(parts, -1), Tensor(), Tensor()};
    }
    Tensor grad = at::empty(joint_shape, any->options());
    const int64_t d = joint_shape.back();
    const int64_t rows = d == 0 ? 0 : grad.numel() / d;
    int64_t offset = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      if (grads[i].defined()) {
        copy_columns<false>(grad, grads[i].contiguous(), offset, sizes[i]);
      } else {
        auto* base = static_cast<char*>(grad.data_ptr());
        for (int64_t r = 0; r < rows; ++r) {
          std::memset(base + (r * d + offset) * grad.element_size(), 0, sizes[i] * grad.element_size());
        }
      }
      offset += sizes[i];
    }
    return {grad, Tensor(), Tensor()};
  }
};
}  // namespace

std::vector<Tensor> split_sites(const Tensor& joint, const std::vector<int64_t>& sizes,
                                const std::vector<Shape>& shapes) {
  if (sizes.size() != shapes.size()) throw std::invalid_argument("split_sites: one shape per size is needed");
  const int64_t total = std::accumulate(sizes.begin(), sizes.end(), int64_t{0});
  if (joint.dim() == 0 || joint.size(-1) != total) {
    throw std::invalid_argument("split_sites: the last dimension of a tensor of shape " +
                                dist::shape_string(joint.sizes()) + " is not the sum of the site sizes, " +
                                std::to_string(total));
  }
  const int64_t rows = total == 0 ? 0 : joint.numel() / total;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const int64_t n = std::accumulate(shapes[i].begin(), shapes[i].end(), int64_t{1}, std::multiplies<>());
    if (n != rows * sizes[i]) {
      throw std::invalid_argument("split_sites: piece " + std::to_string(i) + " of shape " +
                                  dist::shape_string(shapes[i]) + " does not hold " + std::to_string(rows) + " x " +
                                  std::to_string(sizes[i]) + " elements");
    }
  }
  const bool plain = joint.device().is_cpu() && joint.is_contiguous() && !joint.is_sparse();
  if (!plain) return split_by_ops(joint, sizes, shapes);
  return SplitSites::apply(joint, sizes, shapes);
}

}  // namespace amortize::infer
