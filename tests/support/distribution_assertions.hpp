// Checks for the distribution tests, returned as AssertionResults like those in assertions.hpp.
#pragma once
#include "amortize/dist/tensor_args.hpp"
#include "assertions.hpp"

#include <functional>
#include <string>

namespace amortize::testing {

// fn throws a DistributionError whose message contains `text`.
inline ::testing::AssertionResult throws_error(const std::function<void()>& fn, const std::string& text) {
  return throws_containing<dist::DistributionError>(fn, text);
}

}  // namespace amortize::testing
