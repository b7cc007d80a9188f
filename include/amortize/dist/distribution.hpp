// The interface every probability distribution implements. A distribution holds tensors of
// parameters with a batch shape (independent, not identically distributed copies) and an
// event shape (the shape of one draw); `log_prob` reduces the event dimensions and keeps the
// batch ones. Values are plain LibTorch tensors of any floating dtype and on any device.
#pragma once
#include "amortize/dist/constraint.hpp"
#include "amortize/dist/tensor_args.hpp"

#include <ATen/core/Generator.h>

#include <memory>
#include <string>

namespace amortize::dist {

class Distribution;
using DistPtr = std::shared_ptr<const Distribution>;

class Distribution {
 public:
  Distribution() = default;
  Distribution(Shape batch_shape, Shape event_shape);
  virtual ~Distribution() = default;

  // Type name used in error messages and the KL registry ("Normal", "Independent", ...).
  virtual std::string type_name() const = 0;
  virtual DistPtr clone() const = 0;

  const Shape& batch_shape() const { return batch_shape_; }
  const Shape& event_shape() const { return event_shape_; }
  int64_t event_dim() const { return static_cast<int64_t>(event_shape_.size()); }
  // sample_shape + batch_shape + event_shape.
  Shape extended_shape(const Shape& sample_shape = {}) const;
  // dtype and device of the parameters.
  virtual at::TensorOptions options() const = 0;

  virtual Tensor log_prob(const Tensor& value) const = 0;

  // A draw without gradient (defaults to rsample under no_grad). The generator may be
  // undefined, in which case LibTorch's default generator is used.
  virtual Tensor sample(const Shape& sample_shape = {}, at::Generator gen = {}) const;
  // A reparameterised draw: differentiable with respect to the parameters.
  virtual bool has_rsample() const { return false; }
  virtual Tensor rsample(const Shape& sample_shape = {}, at::Generator gen = {}) const;

  virtual Tensor mean() const;
  virtual Tensor variance() const;
  virtual Tensor entropy() const;
  Tensor stddev() const { return variance().sqrt(); }

  virtual Constraint support() const = 0;
  bool is_discrete() const { return support().is_discrete(); }

  // The same distribution broadcast to a larger batch shape.
  virtual DistPtr expand(const Shape& batch_shape) const = 0;
  // Reinterprets the rightmost `n` batch dimensions as event dimensions.
  DistPtr to_event(int64_t n = 1) const;

  // Throws a DistributionError naming the type if `value` is outside the support or its
  // shape does not broadcast against this distribution (only when validation is on).
  void validate_sample(const Tensor& value) const;

 protected:
  // Concrete types set their shapes once their parameters are broadcast.
  void set_shapes(Shape batch_shape, Shape event_shape = {});
  [[noreturn]] void not_implemented(const std::string& what) const;
  // Checks that `shape` can be reached from this batch shape by broadcasting.
  void check_expand(const Shape& batch_shape) const;

 private:
  Shape batch_shape_;
  Shape event_shape_;
};

// CRTP helper implementing clone() for a concrete distribution type.
template <class Derived>
class DistributionBase : public Distribution {
 public:
  using Distribution::Distribution;
  DistPtr clone() const override { return std::make_shared<Derived>(static_cast<const Derived&>(*this)); }
};

// Sums the rightmost `n` dimensions (for reducing event dimensions of a log-density).
Tensor sum_rightmost(const Tensor& x, int64_t n);

}  // namespace amortize::dist
