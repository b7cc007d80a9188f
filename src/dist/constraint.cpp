#include "amortize/dist/constraint.hpp"

namespace amortize::dist {
namespace {
int64_t natural_event_dim(ConstraintKind kind) {
  switch (kind) {
    case ConstraintKind::Simplex:
    case ConstraintKind::OrderedVector:
      return 1;
    case ConstraintKind::LowerCholesky:
      return 2;
    default:
      return 0;
  }
}

Tensor scalar(const TensorArg& a) {
  return a.is_tensor() ? a.tensor() : at::scalar_tensor(a.value(), default_options());
}

// Reduces an elementwise membership mask over `n` trailing dimensions.
Tensor all_trailing(Tensor ok, int64_t n) {
  for (int64_t i = 0; i < n; ++i) ok = ok.all(-1);
  return ok;
}
}  // namespace

Constraint::Constraint(ConstraintKind kind, Tensor lower, Tensor upper, int64_t event_dim)
    : kind_(kind),
      lower_(std::move(lower)),
      upper_(std::move(upper)),
      event_dim_(event_dim < 0 ? natural_event_dim(kind) : event_dim) {}

int64_t Constraint::base_event_dim() const { return natural_event_dim(kind_); }

bool Constraint::is_discrete() const {
  return kind_ == ConstraintKind::Boolean || kind_ == ConstraintKind::NonNegativeInteger ||
         kind_ == ConstraintKind::IntegerInterval;
}

std::string Constraint::name() const {
  std::string base;
  switch (kind_) {
    case ConstraintKind::Real: base = "real"; break;
    case ConstraintKind::Positive: base = "positive"; break;
    case ConstraintKind::GreaterThan: base = "greater_than"; break;
    case ConstraintKind::LessThan: base = "less_than"; break;
    case ConstraintKind::Interval: base = "interval"; break;
    case ConstraintKind::UnitInterval: base = "unit_interval"; break;
    case ConstraintKind::Simplex: base = "simplex"; break;
    case ConstraintKind::LowerCholesky: base = "lower_cholesky"; break;
    case ConstraintKind::OrderedVector: base = "ordered_vector"; break;
    case ConstraintKind::Boolean: base = "boolean"; break;
    case ConstraintKind::NonNegativeInteger: base = "nonnegative_integer"; break;
    case ConstraintKind::IntegerInterval: base = "integer_interval"; break;
  }
  if (extra_event_dims() > 0) base = "independent(" + base + ", " + std::to_string(extra_event_dims()) + ")";
  return base;
}

Tensor Constraint::check(const Tensor& value) const {
  Tensor ok;
  const auto is_int = [&](const Tensor& v) { return v == at::floor(v); };
  switch (kind_) {
    case ConstraintKind::Real: ok = ~at::isnan(value); break;
    case ConstraintKind::Positive: ok = value > 0; break;
    case ConstraintKind::GreaterThan: ok = value > lower_; break;
    case ConstraintKind::LessThan: ok = value < upper_; break;
    case ConstraintKind::Interval: ok = (value >= lower_) & (value <= upper_); break;
    case ConstraintKind::UnitInterval: ok = (value >= 0) & (value <= 1); break;
    case ConstraintKind::Simplex: {
      const double tol = value.scalar_type() == at::kDouble ? 1e-10 : 1e-5;
      ok = (value >= 0).all(-1) & ((value.sum(-1) - 1).abs() < tol * value.size(-1));
      break;
    }
    case ConstraintKind::LowerCholesky: {
      auto lower_tri = (value.triu(1) == 0).all(-1).all(-1);
      ok = lower_tri & (value.diagonal(0, -2, -1) > 0).all(-1);
      break;
    }
    case ConstraintKind::OrderedVector:
      ok = value.size(-1) < 2 ? at::ones(value.sizes().slice(0, value.dim() - 1), value.options().dtype(at::kBool))
                              : (value.narrow(-1, 1, value.size(-1) - 1) > value.narrow(-1, 0, value.size(-1) - 1)).all(-1);
      break;
    case ConstraintKind::Boolean: ok = (value == 0) | (value == 1); break;
    case ConstraintKind::NonNegativeInteger: ok = (value >= 0) & is_int(value); break;
    case ConstraintKind::IntegerInterval: ok = (value >= lower_) & (value <= upper_) & is_int(value); break;
  }
  return all_trailing(ok, extra_event_dims());
}

Constraint Constraint::with_extra_event_dims(int64_t n) const {
  Constraint c = *this;
  c.event_dim_ += n;
  return c;
}

namespace constraints {
Constraint real() { return Constraint(ConstraintKind::Real); }
Constraint real_vector() { return Constraint(ConstraintKind::Real, {}, {}, 1); }
Constraint positive() { return Constraint(ConstraintKind::Positive); }
Constraint greater_than(TensorArg lower) { return Constraint(ConstraintKind::GreaterThan, scalar(lower)); }
Constraint less_than(TensorArg upper) { return Constraint(ConstraintKind::LessThan, {}, scalar(upper)); }
Constraint interval(TensorArg lower, TensorArg upper) {
  return Constraint(ConstraintKind::Interval, scalar(lower), scalar(upper));
}
Constraint unit_interval() { return Constraint(ConstraintKind::UnitInterval); }
Constraint simplex() { return Constraint(ConstraintKind::Simplex); }
Constraint lower_cholesky() { return Constraint(ConstraintKind::LowerCholesky); }
Constraint ordered_vector() { return Constraint(ConstraintKind::OrderedVector); }
Constraint boolean() { return Constraint(ConstraintKind::Boolean); }
Constraint nonnegative_integer() { return Constraint(ConstraintKind::NonNegativeInteger); }
Constraint integer_interval(TensorArg lower, TensorArg upper) {
  return Constraint(ConstraintKind::IntegerInterval, scalar(lower), scalar(upper));
}
}  // namespace constraints

}  // namespace amortize::dist
