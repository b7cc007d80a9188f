// A transform whose `reinterpreted_dims` rightmost batch dimensions are taken as part of one
// event, so its log-determinant is summed over them. biject_to uses it for constraints built
// with to_event (an independent positive vector maps through exp, one log-det per vector).
#pragma once
#include "amortize/dist/transforms/transform.hpp"

namespace amortize::dist {

class IndependentTransform : public Transform {
 public:
  IndependentTransform(TransformPtr base, int64_t reinterpreted_dims);

  std::string name() const override;
  const TransformPtr& base() const { return base_; }
  int64_t reinterpreted_dims() const { return dims_; }

  Tensor forward(const Tensor& x) const override { return base_->forward(x); }
  Tensor inverse(const Tensor& y) const override { return base_->inverse(y); }
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor& y) const override;
  Constraint domain() const override { return base_->domain().with_extra_event_dims(dims_); }
  Constraint codomain() const override { return base_->codomain().with_extra_event_dims(dims_); }
  Shape forward_shape(const Shape& shape) const override { return base_->forward_shape(shape); }
  Shape inverse_shape(const Shape& shape) const override { return base_->inverse_shape(shape); }

 private:
  TransformPtr base_;
  int64_t dims_;
};

}  // namespace amortize::dist
