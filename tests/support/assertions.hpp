// Checks that return ::testing::AssertionResult instead of asserting inside a helper, so that
// every test states its checks in its own body: EXPECT_TRUE(is_near(x, 1.0, 1e-9)) << "where".
// A failure names what differed and prints both values.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace amortize::testing {

// |actual - expected| <= tolerance, exactly as EXPECT_NEAR decides it (NaN never passes).
inline ::testing::AssertionResult is_near(double actual, double expected, double tolerance) {
  if (std::abs(actual - expected) <= tolerance) return ::testing::AssertionSuccess();
  std::ostringstream message;
  message.precision(17);
  message << "got " << actual << ", expected " << expected << ": they differ by " << std::abs(actual - expected)
          << ", more than the tolerance " << tolerance;
  return ::testing::AssertionFailure() << message.str();
}

// |actual - expected| <= relative * |expected| + absolute; an infinite `expected` must be matched
// exactly (as EXPECT_EQ would).
inline ::testing::AssertionResult is_near_relative(double actual, double expected, double relative, double absolute) {
  if (std::isinf(expected)) {
    if (actual == expected) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "got " << actual << ", expected exactly " << expected;
  }
  return is_near(actual, expected, relative * std::abs(expected) + absolute);
}

// Runs fn and returns the message of the `Error` it throws, or nothing when it returns normally.
// Exceptions of other types propagate (and fail the test).
template <class Error>
std::optional<std::string> error_message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return std::string(e.what());
  }
  return std::nullopt;
}

// `text` contains every fragment; the failure lists the missing ones.
inline ::testing::AssertionResult contains_all(const std::string& text, const std::vector<std::string>& fragments) {
  std::string missing;
  for (const auto& fragment : fragments) {
    if (text.find(fragment) == std::string::npos) missing += (missing.empty() ? "'" : ", '") + fragment + "'";
  }
  if (missing.empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "missing " << missing << " in: " << text;
}

// fn throws an `Error` whose message contains every fragment.
template <class Error>
::testing::AssertionResult throws_containing(const std::function<void()>& fn,
                                             const std::vector<std::string>& fragments) {
  const auto message = error_message<Error>(fn);
  if (!message) {
    std::string expected;
    for (const auto& fragment : fragments) expected += " '" + fragment + "'";
    return ::testing::AssertionFailure() << "no error of the expected type was thrown; expected one containing"
                                         << expected;
  }
  return contains_all(*message, fragments);
}

template <class Error>
::testing::AssertionResult throws_containing(const std::function<void()>& fn, const std::string& fragment) {
  return throws_containing<Error>(fn, std::vector<std::string>{fragment});
}

}  // namespace amortize::testing
