#include "amortize/dist/transforms/biject_to.hpp"

#include "amortize/dist/transforms/affine_transform.hpp"
#include "amortize/dist/transforms/compose_transform.hpp"
#include "amortize/dist/transforms/exp_transform.hpp"
#include "amortize/dist/transforms/identity_transform.hpp"
#include "amortize/dist/transforms/independent_transform.hpp"
#include "amortize/dist/transforms/lower_cholesky_transform.hpp"
#include "amortize/dist/transforms/ordered_transform.hpp"
#include "amortize/dist/transforms/sigmoid_transform.hpp"
#include "amortize/dist/transforms/stick_breaking_transform.hpp"

namespace amortize::dist {
namespace {
TransformPtr then(TransformPtr first, TransformPtr second) {
  return std::make_shared<ComposeTransform>(std::vector<TransformPtr>{std::move(first), std::move(second)});
}

TransformPtr base_bijection(const Constraint& c) {
  switch (c.kind()) {
    case ConstraintKind::Real:
      return std::make_shared<IdentityTransform>();
    case ConstraintKind::Positive:
      return std::make_shared<ExpTransform>();
    case ConstraintKind::GreaterThan:
      return then(std::make_shared<ExpTransform>(),
                  std::make_shared<AffineTransform>(c.lower(), 1.0, 0, constraints::positive()));
    case ConstraintKind::LessThan:
      return then(std::make_shared<ExpTransform>(),
                  std::make_shared<AffineTransform>(c.upper(), -1.0, 0, constraints::positive()));
    case ConstraintKind::Interval:
      return then(std::make_shared<SigmoidTransform>(),
                  std::make_shared<AffineTransform>(c.lower(), c.upper() - c.lower(), 0, constraints::unit_interval()));
    case ConstraintKind::UnitInterval:
      return std::make_shared<SigmoidTransform>();
    case ConstraintKind::Simplex:
      return std::make_shared<StickBreakingTransform>();
    case ConstraintKind::LowerCholesky:
      return std::make_shared<LowerCholeskyTransform>();
    case ConstraintKind::OrderedVector:
      return std::make_shared<OrderedTransform>();
    default:
      break;
  }
  throw DistributionError("biject_to: the discrete constraint " + c.name() + " has no bijection from real space");
}
}  // namespace

TransformPtr biject_to(const Constraint& constraint) {
  if (constraint.is_discrete()) {
    throw DistributionError("biject_to: the discrete constraint " + constraint.name() +
                            " has no bijection from real space");
  }
  TransformPtr base = base_bijection(constraint);
  // real_vector and to_event constraints: one log-determinant per event, not per element.
  const int64_t extra = constraint.extra_event_dims();
  if (extra == 0) return base;
  return std::make_shared<IndependentTransform>(base, extra);
}

}  // namespace amortize::dist
