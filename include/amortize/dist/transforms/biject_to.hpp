// biject_to(constraint): a bijection from unconstrained real space onto the constraint's set.
// Guides keep their parameters and draws in R^n and push them through it onto a site's support;
// the log-determinant corrects densities. Discrete constraints have none and throw.
#pragma once
#include "amortize/dist/transforms/transform.hpp"

namespace amortize::dist {

// real -> identity, positive -> exp, greater_than(a) -> exp then a + x, less_than(b) -> exp
// then b - x, interval(a, b) -> sigmoid then a + (b - a) x, unit_interval -> sigmoid,
// simplex -> stick breaking, lower_cholesky -> LowerCholesky, ordered_vector -> Ordered;
// extra event dimensions (to_event) wrap the result in an IndependentTransform.
TransformPtr biject_to(const Constraint& constraint);

}  // namespace amortize::dist
