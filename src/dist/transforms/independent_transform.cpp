#include "amortize/dist/transforms/independent_transform.hpp"

#include "amortize/dist/distribution.hpp"

namespace amortize::dist {

IndependentTransform::IndependentTransform(TransformPtr base, int64_t reinterpreted_dims)
    : base_(std::move(base)), dims_(reinterpreted_dims) {
  require(base_ != nullptr, "IndependentTransform: base transform is null");
  require(dims_ >= 0, "IndependentTransform: reinterpreted_dims must be non-negative, got " + std::to_string(dims_));
}

std::string IndependentTransform::name() const {
  return "independent(" + base_->name() + ", " + std::to_string(dims_) + ")";
}

Tensor IndependentTransform::log_abs_det_jacobian(const Tensor& x, const Tensor& y) const {
  return sum_rightmost(base_->log_abs_det_jacobian(x, y), dims_);
}

}  // namespace amortize::dist
