// The "sticking the landing" estimator (Roeder, Wu, Duvenaud 2017) for reparameterised guides:
// draws come from the live distribution, so gradients flow along the sample path, but log q is
// evaluated with detached parameters, which drops the score term whose expectation is zero.
// At the exact posterior every gradient sample is then zero.
#pragma once
#include "amortize/dist/distribution.hpp"

namespace amortize::infer {

class StickingTheLanding : public dist::DistributionBase<StickingTheLanding> {
 public:
  // `detached` is the same distribution built from detached parameters.
  StickingTheLanding(dist::DistPtr live, dist::DistPtr detached);

  std::string type_name() const override { return "StickingTheLanding"; }
  at::TensorOptions options() const override { return live_->options(); }
  Tensor log_prob(const Tensor& value) const override { return detached_->log_prob(value); }
  bool has_rsample() const override { return live_->has_rsample(); }
  Tensor rsample(const Shape& sample_shape = {}, at::Generator gen = {}) const override {
    return live_->rsample(sample_shape, std::move(gen));
  }
  Tensor mean() const override { return live_->mean(); }
  Tensor variance() const override { return live_->variance(); }
  dist::Constraint support() const override { return live_->support(); }
  dist::DistPtr expand(const Shape& batch_shape) const override;

 private:
  dist::DistPtr live_;
  dist::DistPtr detached_;
};

}  // namespace amortize::infer
