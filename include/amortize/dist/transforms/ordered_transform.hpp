// Maps R^K onto strictly increasing vectors: y_0 = x_0, y_i = y_{i-1} + exp(x_i)
// (biject_to(ordered_vector), used for cut points of ordinal models and mixture locations).
#pragma once
#include "amortize/dist/transforms/transform.hpp"

namespace amortize::dist {

class OrderedTransform : public Transform {
 public:
  std::string name() const override { return "ordered"; }
  // Steps exp(x_i) too small to change y_{i-1} in floating point are raised to a few ulps of it,
  // so the output is strictly increasing for any input (the inverse is exact elsewhere).
  Tensor forward(const Tensor& x) const override;
  Tensor inverse(const Tensor& y) const override;
  // sum_{i>=1} x_i.
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor& y) const override;
  Constraint domain() const override { return constraints::real_vector(); }
  Constraint codomain() const override { return constraints::ordered_vector(); }
};

}  // namespace amortize::dist
