// The standard effect handlers, each an RAII scope with one job:
//   TraceHandler      records every site into a Trace
//   ReplayHandler     reuses the values of latent sites (and plate subsamples) from a trace
//   ConditionHandler  turns named latent sites into observed ones with given values
//   SubstituteHandler fixes the values of named param (or sample) sites
//   BlockHandler      hides sites from the handlers outside it
//   ScaleHandler      multiplies log-densities by a factor
//   MaskHandler       zeroes log-densities where a boolean mask is false
//   SeedHandler       supplies the random generator for every draw inside it
#pragma once
#include "amortize/model/handler.hpp"
#include "amortize/model/trace.hpp"

#include <functional>
#include <map>
#include <set>

namespace amortize::model {

class TraceHandler : public Handler {
 public:
  void postprocess(Message& msg) override;
  const Trace& trace() const { return trace_; }
  Trace& trace() { return trace_; }

 private:
  Trace trace_;
};

class ReplayHandler : public Handler {
 public:
  explicit ReplayHandler(const Trace& trace) : trace_(trace) {}
  void process(Message& msg) override;

 private:
  const Trace& trace_;
};

using ValueMap = std::map<std::string, Tensor>;

class ConditionHandler : public Handler {
 public:
  explicit ConditionHandler(ValueMap data) : data_(std::move(data)) {}
  void process(Message& msg) override;

 private:
  ValueMap data_;
};

class SubstituteHandler : public Handler {
 public:
  explicit SubstituteHandler(ValueMap values) : values_(std::move(values)) {}
  void process(Message& msg) override;

 private:
  ValueMap values_;
};

class BlockHandler : public Handler {
 public:
  // Hides the sites for which `hide` returns true (all sites by default).
  explicit BlockHandler(std::function<bool(const Message&)> hide = {}) : hide_(std::move(hide)) {}
  static BlockHandler hiding(std::set<std::string> names);
  void process(Message& msg) override;

 private:
  std::function<bool(const Message&)> hide_;
};

class ScaleHandler : public Handler {
 public:
  explicit ScaleHandler(double factor);
  void process(Message& msg) override;

 private:
  double factor_;
};

class MaskHandler : public Handler {
 public:
  explicit MaskHandler(Tensor mask) : mask_(std::move(mask)) {}
  void process(Message& msg) override;

 private:
  Tensor mask_;
};

class SeedHandler : public Handler {
 public:
  explicit SeedHandler(uint64_t seed);
  explicit SeedHandler(at::Generator generator) : generator_(std::move(generator)) {}
  void process(Message& msg) override;
  at::Generator& generator() { return generator_; }

 private:
  at::Generator generator_;
};

}  // namespace amortize::model
