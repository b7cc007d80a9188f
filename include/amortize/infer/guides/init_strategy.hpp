// Where automatic guides start: the median of a few prior draws (the default), a single prior
// draw, or values the user gives (by site name, constrained). Sites that cannot be sampled
// (improper flat priors) start uniformly in (-2, 2) in unconstrained space, as in NumPyro.
#pragma once
#include "amortize/model/handler.hpp"

#include <map>
#include <string>

namespace amortize::infer {

struct InitStrategy {
  enum class Kind { Median, PriorSample, Values };
  Kind kind = Kind::Median;
  int64_t median_draws = 15;
  std::map<std::string, Tensor> values;  // for Values; sites not named fall back to Median

  static InitStrategy median() { return {}; }
  static InitStrategy prior_sample() { return {Kind::PriorSample, 15, {}}; }
  static InitStrategy from_values(std::map<std::string, Tensor> v) { return {Kind::Values, 15, std::move(v)}; }
};

// A handler that gives every unobserved sample site its initial value.
class InitHandler : public model::Handler {
 public:
  explicit InitHandler(InitStrategy strategy) : strategy_(std::move(strategy)) {}
  void process(model::Message& msg) override;

 private:
  InitStrategy strategy_;
};

}  // namespace amortize::infer
