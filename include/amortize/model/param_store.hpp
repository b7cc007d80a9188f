// Where learnable parameters live: each is stored unconstrained (a leaf tensor with
// requires_grad) together with its constraint, and read back constrained through biject_to.
// A thread has one active store; ParamStoreScope swaps in another for the scope's lifetime.
#pragma once
#include "amortize/dist/constraint.hpp"
#include "amortize/dist/transforms/transform.hpp"

#include <map>
#include <string>
#include <vector>

namespace amortize::model {

class ParamStore {
 public:
  struct Entry {
    Tensor unconstrained;
    dist::Constraint constraint;
    dist::TransformPtr transform;
  };

  // The constrained value of `name`, created from `init` (constrained) on first use.
  Tensor get_or_create(const std::string& name, const Tensor& init, const dist::Constraint& constraint);
  // Stores an already-unconstrained leaf under `name` (used by modules and guides).
  void set_unconstrained(const std::string& name, const Tensor& unconstrained,
                         const dist::Constraint& constraint = dist::constraints::real());
  // Overwrites an existing parameter with a new constrained value (keeps the same leaf tensor).
  void assign(const std::string& name, const Tensor& constrained_value);
  bool contains(const std::string& name) const { return entries_.count(name) > 0; }
  Tensor constrained(const std::string& name) const;
  const Entry& entry(const std::string& name) const;
  // The trainable unconstrained leaves (those that require grad) in name order, for
  // optimisers and gradients. A guide may also keep fixed tensors here, for checkpoints.
  std::vector<Tensor> parameters() const;
  std::vector<std::string> names() const;
  void clear() { entries_.clear(); }

 private:
  std::map<std::string, Entry> entries_;
};

// transform.forward(unconstrained), with the transforms that parameters go through on every
// step done in one autograd node each (on the CPU): the exp transform (positive parameters and
// guide sites; exp, then clamped at the dtype's smallest normal number, as dist::ExpTransform)
// instead of two, and the lower-Cholesky one (full-rank guides) instead of about eight.
Tensor constrain(const dist::Transform& transform, const Tensor& unconstrained);

// The store param() uses on this thread (a process-wide default unless a scope is active).
ParamStore& active_param_store();

class ParamStoreScope {
 public:
  explicit ParamStoreScope(ParamStore& store);
  ~ParamStoreScope();
  ParamStoreScope(const ParamStoreScope&) = delete;
  ParamStoreScope& operator=(const ParamStoreScope&) = delete;

 private:
  ParamStore* previous_;
};

}  // namespace amortize::model
