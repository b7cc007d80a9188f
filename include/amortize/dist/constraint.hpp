// A constraint names the set a value lives in (its support): real, positive, an interval, the
// simplex, lower-Cholesky factors, ordered vectors and discrete sets. `check` tests membership
// elementwise over the batch; `biject_to` (transforms/biject_to.hpp) maps R^n onto each
// continuous constraint, which is how guides work in unconstrained space.
#pragma once
#include "amortize/dist/tensor_args.hpp"

#include <string>

namespace amortize::dist {

enum class ConstraintKind {
  Real,
  Positive,
  GreaterThan,
  LessThan,
  Interval,
  UnitInterval,
  Simplex,
  LowerCholesky,
  OrderedVector,
  Boolean,
  NonNegativeInteger,
  IntegerInterval,
};

class Constraint {
 public:
  Constraint() = default;
  Constraint(ConstraintKind kind, Tensor lower = {}, Tensor upper = {}, int64_t event_dim = -1);

  ConstraintKind kind() const { return kind_; }
  const Tensor& lower() const { return lower_; }
  const Tensor& upper() const { return upper_; }
  // Number of rightmost dimensions that form one value (0 for scalars, 1 for vectors).
  int64_t event_dim() const { return event_dim_; }
  bool is_discrete() const;
  std::string name() const;

  // Boolean tensor of shape value.shape[:-event_dim]: true where the value is in the set.
  Tensor check(const Tensor& value) const;

  // The same set with `n` more dimensions gathered into one event (for to_event).
  Constraint with_extra_event_dims(int64_t n) const;
  // Dimensions added by with_extra_event_dims on top of the base set's own.
  int64_t extra_event_dims() const { return event_dim_ - base_event_dim(); }
  int64_t base_event_dim() const;

 private:
  ConstraintKind kind_ = ConstraintKind::Real;
  Tensor lower_;
  Tensor upper_;
  int64_t event_dim_ = 0;
};

namespace constraints {
Constraint real();
Constraint real_vector();
Constraint positive();
Constraint greater_than(TensorArg lower);
Constraint less_than(TensorArg upper);
Constraint interval(TensorArg lower, TensorArg upper);
Constraint unit_interval();
Constraint simplex();
Constraint lower_cholesky();
Constraint ordered_vector();
Constraint boolean();
Constraint nonnegative_integer();
Constraint integer_interval(TensorArg lower, TensorArg upper);
}  // namespace constraints

}  // namespace amortize::dist
