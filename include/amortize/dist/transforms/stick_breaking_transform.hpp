// Stick breaking: maps R^{K-1} onto the simplex of K coordinates. Coordinate i takes the
// fraction z_i = sigmoid(x_i - log(K-1-i)) of the stick left over by the previous ones and the
// last takes the rest; the offset makes x = 0 land on the uniform simplex (Pyro, NumPyro, Stan).
#pragma once
#include "amortize/dist/transforms/transform.hpp"

namespace amortize::dist {

class StickBreakingTransform : public Transform {
 public:
  std::string name() const override { return "stick_breaking"; }
  // Coordinates are kept at least the smallest normal number where they would underflow.
  Tensor forward(const Tensor& x) const override;
  Tensor inverse(const Tensor& y) const override;
  // log |det| of the map from x to the first K-1 coordinates of y (the last is determined).
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor& y) const override;
  Constraint domain() const override { return constraints::real_vector(); }
  Constraint codomain() const override { return constraints::simplex(); }
  // (..., K-1) -> (..., K) and back.
  Shape forward_shape(const Shape& shape) const override;
  Shape inverse_shape(const Shape& shape) const override;
};

}  // namespace amortize::dist
