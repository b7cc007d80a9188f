#include "amortize/model/param_store.hpp"

#include "amortize/dist/transforms/biject_to.hpp"
#include "amortize/model/handler.hpp"

namespace amortize::model {
namespace {
ParamStore& global_store() {
  static ParamStore store;
  return store;
}
thread_local ParamStore* t_active = nullptr;
}  // namespace

Tensor ParamStore::get_or_create(const std::string& name, const Tensor& init, const dist::Constraint& constraint) {
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    if (!init.defined()) throw ModelError("param '" + name + "': no initial value and not in the parameter store");
    auto transform = dist::biject_to(constraint);
    at::NoGradGuard no_grad;
    auto inside = constraint.check(init);
    if (!inside.all().item<bool>()) {
      throw ModelError("param '" + name + "': initial value outside its constraint " + constraint.name());
    }
    Tensor unconstrained = transform->inverse(init.detach()).clone().set_requires_grad(true);
    it = entries_.emplace(name, Entry{unconstrained, constraint, transform}).first;
  }
  return it->second.transform->forward(it->second.unconstrained);
}

void ParamStore::set_unconstrained(const std::string& name, const Tensor& unconstrained,
                                   const dist::Constraint& constraint) {
  entries_[name] = Entry{unconstrained, constraint, dist::biject_to(constraint)};
}

void ParamStore::assign(const std::string& name, const Tensor& constrained_value) {
  auto it = entries_.find(name);
  if (it == entries_.end()) throw ModelError("param '" + name + "' is not in the parameter store");
  at::NoGradGuard no_grad;
  it->second.unconstrained.copy_(it->second.transform->inverse(constrained_value.detach()));
}

Tensor ParamStore::constrained(const std::string& name) const {
  const auto& e = entry(name);
  return e.transform->forward(e.unconstrained);
}

const ParamStore::Entry& ParamStore::entry(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) throw ModelError("param '" + name + "' is not in the parameter store");
  return it->second;
}

std::vector<Tensor> ParamStore::parameters() const {
  std::vector<Tensor> out;
  for (const auto& [name, e] : entries_) out.push_back(e.unconstrained);
  return out;
}

std::vector<std::string> ParamStore::names() const {
  std::vector<std::string> out;
  for (const auto& [name, e] : entries_) out.push_back(name);
  return out;
}

ParamStore& active_param_store() { return t_active ? *t_active : global_store(); }

ParamStoreScope::ParamStoreScope(ParamStore& store) : previous_(t_active) { t_active = &store; }
ParamStoreScope::~ParamStoreScope() { t_active = previous_; }

}  // namespace amortize::model
