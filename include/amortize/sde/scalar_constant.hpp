// A C++ constant as a 0-dim tensor of the dtype and device of the tensors it meets. Arithmetic
// of a float32 tensor with a double makes LibTorch copy the double into a new float32 tensor
// on every call (an aten::to in the forward and another in the backward); this makes it once.
#pragma once
#include <ATen/ATen.h>

namespace amortize::sde {

class ScalarConstant {
 public:
  explicit ScalarConstant(double value) : value_(value) {}
  double value() const { return value_; }
  // The constant with t's dtype and device (made again only when those change).
  const at::Tensor& like(const at::Tensor& t) const {
    if (!tensor_.defined() || tensor_.scalar_type() != t.scalar_type() || tensor_.device() != t.device())
      tensor_ = at::scalar_tensor(value_, at::TensorOptions().dtype(t.scalar_type()).device(t.device()));
    return tensor_;
  }

 private:
  double value_;
  mutable at::Tensor tensor_;
};

}  // namespace amortize::sde
