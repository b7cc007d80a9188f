// Distribution parameters arrive as doubles or tensors; this turns them into tensors that
// share one dtype and device (taken from the first tensor given, else the default dtype) and
// one broadcast shape, and validates them with messages naming distribution and argument.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace amortize {
using Tensor = at::Tensor;
using Shape = std::vector<int64_t>;
}  // namespace amortize

namespace amortize::dist {

// A parameter given either as a plain number or as a tensor.
class TensorArg {
 public:
  TensorArg(double value) : value_(value) {}  // NOLINT: implicit by design
  TensorArg(int value) : value_(value) {}     // NOLINT
  TensorArg(const Tensor& tensor) : tensor_(tensor) {}  // NOLINT
  bool is_tensor() const { return tensor_.defined(); }
  const Tensor& tensor() const { return tensor_; }
  double value() const { return value_; }

 private:
  Tensor tensor_;
  double value_ = 0.0;
};

// Converts every argument to a tensor of a common floating dtype and device, then broadcasts.
std::vector<Tensor> broadcast_args(const std::vector<TensorArg>& args);

// Options (dtype, device) for a distribution built only from numbers.
at::TensorOptions default_options();

// Global switch for argument and support validation (on by default; off for speed).
bool validation_enabled();
void set_validation(bool enabled);

// Thrown for invalid distribution arguments, shapes and values.
class DistributionError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Helpers that throw DistributionError "Dist: arg must be ..., got v at index [i]".
void require_positive(const std::string& dist, const std::string& arg, const Tensor& t);
void require_nonnegative(const std::string& dist, const std::string& arg, const Tensor& t);
void require_finite(const std::string& dist, const std::string& arg, const Tensor& t);
void require_in_unit_interval(const std::string& dist, const std::string& arg, const Tensor& t);
void require(bool condition, const std::string& message);

std::string shape_string(at::IntArrayRef shape);
Shape to_shape(at::IntArrayRef shape);

}  // namespace amortize::dist
