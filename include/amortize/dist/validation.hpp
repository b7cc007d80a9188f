// Scoped control of argument and support validation (dist::validation_enabled): training
// loops validate their first step and then run without the checks, which cost a
// host-device synchronisation each.
#pragma once
#include "amortize/dist/tensor_args.hpp"

namespace amortize::dist {

class ValidationScope {
 public:
  explicit ValidationScope(bool enabled) : previous_(validation_enabled()) { set_validation(enabled); }
  ~ValidationScope() { set_validation(previous_); }
  ValidationScope(const ValidationScope&) = delete;
  ValidationScope& operator=(const ValidationScope&) = delete;

 private:
  bool previous_;
};

}  // namespace amortize::dist
