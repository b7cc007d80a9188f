// `module` registers a torch::nn module's parameters as learnable params of the model or guide,
// named "<name>$<parameter path>", so optimisers, checkpoints and traces see them like any
// param. The module keeps using its own tensors: the store shares them rather than copying.
#pragma once
#include "amortize/model/primitives.hpp"

#include <torch/nn/module.h>

#include <memory>
#include <string>

namespace amortize::model {

// Registers every parameter of `m`; a value already in the store under the same name (a
// resumed run) is copied into the module first.
void register_module_parameters(const std::string& name, torch::nn::Module& m);

// Returns the module so that calls chain: `auto out = module("encoder", encoder)->forward(x);`.
template <typename ModuleHolder>
ModuleHolder& module(const std::string& name, ModuleHolder& holder) {
  register_module_parameters(name, *holder.ptr());
  return holder;
}

}  // namespace amortize::model
