// Checks and broadcasting for matrix-valued distribution parameters: a vector (..., n) and
// matrices (..., n, n) or (..., n, r) whose leading dimensions broadcast into one batch shape.
// Errors are DistributionErrors naming the distribution, the argument and the shapes.
#pragma once
#include "amortize/dist/tensor_args.hpp"

#include <string>
#include <utility>
#include <vector>

namespace amortize::dist {

// A parameter with `event_dims` trailing non-batch dimensions (1 for vectors, 2 for matrices).
struct BatchedArg {
  std::string name;
  Tensor tensor;
  int64_t event_dims;
};

// dtype and device shared by the arguments: the first tensor's device and the promotion of the
// floating tensors' dtypes (the default dtype when none is a floating tensor).
at::TensorOptions floating_options(const std::vector<TensorArg>& args);

// The broadcast of the arguments' batch shapes; throws "Dist: batch shapes of a (..) and b (..)
// do not broadcast" naming the arguments and their full shapes.
Shape broadcast_batch_shape(const std::string& dist, const std::vector<BatchedArg>& args);

// Throws "Dist: a of shape (..) does not match b of shape (..): expected <expected>".
[[noreturn]] void throw_shape_mismatch(const std::string& dist, const std::string& a_name, const Tensor& a,
                                       const std::string& b_name, const Tensor& b, const std::string& expected);

// Throws unless m has shape (..., n, n) with n >= 1 (always checked: shapes are structural).
void require_square_matrix(const std::string& dist, const std::string& arg, const Tensor& m);
// Throws if an entry above the diagonal is non-zero, naming its value and index (when validating).
void require_lower_triangular(const std::string& dist, const std::string& arg, const Tensor& m);
// Throws if m differs from its transpose beyond rounding (when validating).
void require_symmetric(const std::string& dist, const std::string& arg, const Tensor& m);
// Lower Cholesky factor of a batch of symmetric positive-definite matrices; throws naming the
// argument and the batch index of the first matrix that is not positive definite.
Tensor cholesky_or_throw(const std::string& dist, const std::string& arg, const Tensor& m);

// Broadcasts a mean (a number, or (..., n)) against a matrix (..., n, n) into (batch..., n) and
// (batch..., n, n); `matrix_arg` names the matrix in errors.
std::pair<Tensor, Tensor> broadcast_loc_and_matrix(const std::string& dist, const TensorArg& loc, const Tensor& matrix,
                                                   const std::string& matrix_arg);

// A mean given as a number or a tensor as a tensor with at least one dimension of size n.
Tensor loc_as_vector(const TensorArg& loc, int64_t n, const at::TensorOptions& options);

}  // namespace amortize::dist
