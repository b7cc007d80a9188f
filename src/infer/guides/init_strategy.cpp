#include "amortize/infer/guides/init_strategy.hpp"

#include "amortize/dist/transforms/biject_to.hpp"

namespace amortize::infer {
namespace {
Tensor uniform_in_unconstrained(const dist::Distribution& d, at::Generator gen) {
  auto transform = dist::biject_to(d.support());
  auto shape = transform->inverse_shape(d.extended_shape());
  auto u = at::rand(shape, gen, d.options()) * 4 - 2;
  return transform->forward(u);
}
}  // namespace

void InitHandler::process(model::Message& msg) {
  if (msg.kind != model::SiteKind::Sample || msg.observed || msg.value.defined()) return;
  if (strategy_.kind == InitStrategy::Kind::Values) {
    auto it = strategy_.values.find(msg.name);
    if (it != strategy_.values.end()) {
      msg.value = it->second.to(msg.dist->options()).expand(msg.dist->extended_shape()).clone();
      return;
    }
  }
  at::NoGradGuard no_grad;
  const auto& d = *msg.dist;
  try {
    if (strategy_.kind == InitStrategy::Kind::PriorSample || d.is_discrete()) {
      msg.value = d.sample({}, msg.generator);
    } else {
      auto draws = d.sample({strategy_.median_draws}, msg.generator);
      msg.value = std::get<0>(draws.median(0));
      if (!d.support().check(msg.value).all().item<bool>()) msg.value = draws[0];
    }
  } catch (const dist::DistributionError&) {
    msg.value = uniform_in_unconstrained(d, msg.generator);
  }
}

}  // namespace amortize::infer
