// Subcommands of the amortize tool; each registers its options on the CLI11 app and returns
// the function that runs it (exit code 0 on success).
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace amortize::cli {

using Runner = std::function<int()>;

Runner add_models_command(CLI::App& app);
Runner add_fit_command(CLI::App& app);
Runner add_vae_command(CLI::App& app);
Runner add_pavi_command(CLI::App& app);
Runner add_sde_command(CLI::App& app);

// Number checks whose messages say what is wrong (CLI11's PositiveNumber prints its whole
// range, up to 1.8e308): "must be positive, got 0".
inline CLI::Validator number_at_least(double low, bool strict, const std::string& what) {
  return CLI::Validator(
      [=](std::string& value) -> std::string {
        double x = 0;
        try {
          size_t end = 0;
          x = std::stod(value, &end);
          if (end != value.size()) return "must be " + what + ", got '" + value + "'";
        } catch (const std::exception&) {
          return "must be " + what + ", got '" + value + "'";
        }
        return (strict ? x > low : x >= low) ? std::string() : "must be " + what + ", got " + value;
      },
      what);
}
inline CLI::Validator positive() { return number_at_least(0, true, "positive"); }
inline CLI::Validator non_negative() { return number_at_least(0, false, "zero or more"); }

// Exit codes: 2 for bad input or settings, 3 for a training failure.
constexpr int kExitBadInput = 2;
constexpr int kExitTrainingFailed = 3;

}  // namespace amortize::cli
