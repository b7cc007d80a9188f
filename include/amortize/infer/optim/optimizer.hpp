// Gradient-based optimisers over named parameter tensors (leaves whose .grad() autograd fills).
// Parameters may be added at any time (guides create theirs on the first run); each keeps its
// own state tensors, saved and loaded by parameter name so a checkpoint reloads into a fresh
// process. Updates are in place and fused (few LibTorch ops per parameter). A parameter can be
// updated sparsely, row by row along dim 0: from a sparse COO gradient, or from the rows the
// caller marks as touched this step; rows not touched keep their values and their state
// (lazy semantics, as torch.optim.SparseAdam).
#pragma once
#include "amortize/dist/tensor_args.hpp"

#include <map>
#include <string>
#include <vector>

namespace torch::serialize {
class OutputArchive;
class InputArchive;
}  // namespace torch::serialize

namespace amortize::infer::optim {

class Optimizer {
 public:
  explicit Optimizer(double learning_rate);
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // Registers `param` under `name`. Registering a known name with another tensor rebinds it
  // (the state is kept when the shape matches, reset otherwise).
  void add_parameter(const std::string& name, const Tensor& param);
  // Adds every parameter not yet known (and rebinds changed ones); cheap when nothing changed.
  void add_parameters(const std::map<std::string, Tensor>& named);
  // A plain list, named "0", "1", ... in order (for parameters that have no names).
  void add_parameters(const std::vector<Tensor>& params);

  // Marks the rows (indices along dim 0, int64, unique) of a dense parameter that this step
  // touches: only those rows and their state move. Cleared by step().
  void set_touched_rows(const std::string& name, const Tensor& rows);

  // One update of every parameter that has a gradient, at learning rate lr * lr_scale.
  // Parameters without a gradient (undefined .grad()) are left alone.
  void step(double lr_scale = 1.0);
  // Drops the gradients (sets them undefined), so sparse and dense ones restart cleanly.
  void zero_grad();

  double learning_rate() const { return learning_rate_; }
  void set_learning_rate(double lr);
  // Number of step() calls so far.
  int64_t steps() const { return steps_; }
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const { return slots_.count(name) > 0; }
  // The state tensors of a parameter by slot name (empty map before its first update).
  std::map<std::string, Tensor> state(const std::string& name) const;
  virtual std::string type_name() const = 0;

  // Writes the learning rate, step count and every parameter's state (keyed by name).
  void save(torch::serialize::OutputArchive& archive) const;
  // Reads state saved by save(): parameters must already be registered under the same names
  // (it throws naming a missing parameter or a shape mismatch); a different optimiser type throws.
  void load(torch::serialize::InputArchive& archive);

 protected:
  struct Slot {
    Tensor param;
    std::vector<Tensor> state;  // one per state_names() entry; undefined until the first update
    int64_t step = 0;           // updates applied to this parameter
    Tensor touched_rows;
  };
  // Names of the per-parameter state tensors, in order.
  virtual std::vector<std::string> state_names() const = 0;
  // Fresh state for a parameter (called before its first update).
  virtual void init_state(Slot& slot) const;
  // Updates `param` (the parameter or a gathered copy of its touched rows) in place from `grad`,
  // with `state` (full or gathered rows, updated in place); `step` counts from 1.
  virtual void update(Tensor& param, const Tensor& grad, std::vector<Tensor>& state, int64_t step, double lr) const = 0;
  // Hook before the updates of one step (ClippedAdam clips the global gradient norm here).
  virtual void prepare_step(std::vector<Tensor>& grads);
  // The learning rate used by this step (ClippedAdam decays it).
  virtual double step_learning_rate(double lr) const { return lr; }

  double learning_rate_;
  int64_t steps_ = 0;
  std::map<std::string, Slot> slots_;
};

// `value` as a 0-dim tensor of t's dtype and device, for in-place add_/mul_ in updates: given a
// plain number they wrap it as a double tensor and, for float32 parameters, convert it with a
// copy on every call (four operations instead of one). lerp_/addcmul_/addcdiv_ and alpha
// arguments take numbers without wrapping.
Tensor scalar_like(double value, const Tensor& t);

}  // namespace amortize::infer::optim
