#include "amortize/dist/independent.hpp"

namespace amortize::dist {
namespace {
Shape split_batch(const DistPtr& base, int64_t n, bool event_part) {
  const Shape& b = base->batch_shape();
  if (n < 0 || n > static_cast<int64_t>(b.size())) {
    throw DistributionError("Independent: cannot reinterpret " + std::to_string(n) + " dims of batch shape " +
                            shape_string(b) + " of " + base->type_name());
  }
  const auto cut = b.end() - n;
  if (!event_part) return Shape(b.begin(), cut);
  Shape e(cut, b.end());
  e.insert(e.end(), base->event_shape().begin(), base->event_shape().end());
  return e;
}
}  // namespace

Independent::Independent(DistPtr base, int64_t reinterpreted_dims)
    : DistributionBase(split_batch(base, reinterpreted_dims, false), split_batch(base, reinterpreted_dims, true)),
      base_(std::move(base)),
      dims_(reinterpreted_dims) {}

Tensor Independent::log_prob(const Tensor& value) const { return sum_rightmost(base_->log_prob(value), dims_); }
Tensor Independent::sample(const Shape& s, at::Generator gen) const { return base_->sample(s, std::move(gen)); }
Tensor Independent::rsample(const Shape& s, at::Generator gen) const { return base_->rsample(s, std::move(gen)); }

DistPtr Independent::expand(const Shape& batch_shape) const {
  check_expand(batch_shape);
  Shape base_batch = batch_shape;
  const Shape& b = base_->batch_shape();
  base_batch.insert(base_batch.end(), b.end() - dims_, b.end());
  return std::make_shared<Independent>(base_->expand(base_batch), dims_);
}

}  // namespace amortize::dist
