#include "amortize/model/module.hpp"

#include "amortize/model/param_store.hpp"

namespace amortize::model {

void register_module_parameters(const std::string& name, torch::nn::Module& m) {
  auto& store = active_param_store();
  for (const auto& item : m.named_parameters(/*recurse=*/true)) {
    const std::string full = name + "$" + item.key();
    const Tensor& leaf = item.value();
    if (store.contains(full)) {
      const Tensor& stored = store.entry(full).unconstrained;
      if (!stored.is_same(leaf)) {
        if (stored.sizes() != leaf.sizes()) {
          throw ModelError("module '" + name + "': parameter '" + item.key() + "' has shape " +
                           dist::shape_string(leaf.sizes()) + " but the store holds " +
                           dist::shape_string(stored.sizes()));
        }
        at::NoGradGuard no_grad;
        leaf.copy_(stored);
        store.set_unconstrained(full, leaf);
      }
    } else {
      store.set_unconstrained(full, leaf);
    }
    // Through the handler stack, so that traces record the module's params like any other.
    param(full, leaf);
  }
}

}  // namespace amortize::model
