// The message a primitive sends through the effect-handler stack: what kind of site it is,
// its distribution, value, plates and scale. Handlers read and rewrite it; the trace keeps
// a copy of each finished message as a Site.
#pragma once
#include "amortize/dist/constraint.hpp"
#include "amortize/dist/distribution.hpp"

#include <ATen/core/Generator.h>

#include <string>
#include <vector>

namespace amortize::model {

using dist::Constraint;
using dist::DistPtr;

// Plate sites carry a subsample's indices so that replaying a guide's trace reuses them.
enum class SiteKind { Sample, Param, Deterministic, Factor, Plate };

// One plate a site lives in: it owns tensor dimension `dim` (negative, counted from the right
// of the batch shape) of size `subsample_size`, drawn from `size` elements at `indices`.
struct PlateFrame {
  std::string name;
  int64_t size = 0;
  int64_t subsample_size = 0;
  int64_t dim = -1;
  Tensor indices;
  double scale() const { return static_cast<double>(size) / static_cast<double>(subsample_size); }
};

struct Message {
  SiteKind kind = SiteKind::Sample;
  std::string name;
  DistPtr dist;
  Tensor value;
  bool observed = false;
  std::vector<PlateFrame> plates;
  double scale = 1.0;
  Tensor mask;  // undefined: no mask
  at::Generator generator;
  // param sites: initial constrained value and its constraint.
  Tensor init;
  Constraint constraint;
  // set by block: handlers further out do not see the message.
  bool stop = false;
};

}  // namespace amortize::model
