#include "amortize/model/handlers.hpp"

#include <ATen/CPUGeneratorImpl.h>

namespace amortize::model {

void TraceHandler::postprocess(Message& msg) { trace_.add(msg); }

void ReplayHandler::process(Message& msg) {
  if (msg.kind != SiteKind::Sample && msg.kind != SiteKind::Plate) return;
  if (msg.observed || !trace_.contains(msg.name)) return;
  const Site& site = trace_.at(msg.name);
  if (msg.kind == SiteKind::Plate && site.kind == SiteKind::Plate) {
    msg.value = site.value;
  } else if (msg.kind == SiteKind::Sample && site.kind == SiteKind::Sample) {
    msg.value = site.value;
  }
}

void ConditionHandler::process(Message& msg) {
  if (msg.kind != SiteKind::Sample) return;
  auto it = data_.find(msg.name);
  if (it == data_.end()) return;
  msg.value = it->second;
  msg.observed = true;
}

void SubstituteHandler::process(Message& msg) {
  if (msg.kind != SiteKind::Param && msg.kind != SiteKind::Sample) return;
  auto it = values_.find(msg.name);
  if (it != values_.end()) msg.value = it->second;
}

BlockHandler BlockHandler::hiding(std::set<std::string> names) {
  return BlockHandler([names = std::move(names)](const Message& m) { return names.count(m.name) > 0; });
}

void BlockHandler::process(Message& msg) {
  if (!hide_ || hide_(msg)) msg.stop = true;
}

ScaleHandler::ScaleHandler(double factor) : factor_(factor) {
  if (!(factor > 0)) throw ModelError("scale handler: factor must be positive, got " + std::to_string(factor));
}

void ScaleHandler::process(Message& msg) {
  if (msg.kind == SiteKind::Sample || msg.kind == SiteKind::Factor) msg.scale *= factor_;
}

void MaskHandler::process(Message& msg) {
  if (msg.kind != SiteKind::Sample && msg.kind != SiteKind::Factor) return;
  msg.mask = msg.mask.defined() ? (msg.mask & mask_) : mask_;
}

SeedHandler::SeedHandler(uint64_t seed) : generator_(at::make_generator<at::CPUGeneratorImpl>(seed)) {}

void SeedHandler::process(Message& msg) {
  if (!msg.generator.defined()) msg.generator = generator_;
}

}  // namespace amortize::model
