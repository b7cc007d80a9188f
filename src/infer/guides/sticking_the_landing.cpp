#include "amortize/infer/guides/sticking_the_landing.hpp"

namespace amortize::infer {

StickingTheLanding::StickingTheLanding(dist::DistPtr live, dist::DistPtr detached)
    : live_(std::move(live)), detached_(std::move(detached)) {
  if (!live_->has_rsample()) {
    throw dist::DistributionError("StickingTheLanding: " + live_->type_name() + " has no reparameterised sampler");
  }
  set_shapes(live_->batch_shape(), live_->event_shape());
}

dist::DistPtr StickingTheLanding::expand(const Shape& batch_shape) const {
  return std::make_shared<StickingTheLanding>(live_->expand(batch_shape), detached_->expand(batch_shape));
}

}  // namespace amortize::infer
