// A Brownian motion W(t) - W(t0) that can be queried at any time, in any order: a time past the
// last one known extends the path with an independent Gaussian increment, a time between two
// known ones is filled in by a Brownian bridge. Every value is remembered, so adaptive solvers
// that reject a step and solvers on nested grids all see one consistent path.
#pragma once
#include <ATen/ATen.h>

#include <map>
#include <vector>

namespace amortize::sde {

using Tensor = at::Tensor;

class BrownianPath {
 public:
  BrownianPath(double t0, std::vector<int64_t> shape, const at::TensorOptions& options, at::Generator gen);

  double t0() const { return t0_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  // W(t) - W(t0), of the given shape; t >= t0.
  Tensor value(double t);
  // W(t) - W(s).
  Tensor increment(double s, double t) { return value(t) - value(s); }
  size_t num_stored() const { return values_.size(); }

 private:
  Tensor noise();
  double t0_;
  std::vector<int64_t> shape_;
  at::TensorOptions options_;
  at::Generator gen_;
  std::map<double, Tensor> values_;
};

}  // namespace amortize::sde
