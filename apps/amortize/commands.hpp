// Subcommands of the amortize tool; each registers its options on the CLI11 app and returns
// the function that runs it (exit code 0 on success).
#pragma once
#include <CLI/CLI.hpp>

#include <functional>

namespace amortize::cli {

using Runner = std::function<int()>;

Runner add_models_command(CLI::App& app);
Runner add_fit_command(CLI::App& app);
Runner add_vae_command(CLI::App& app);
Runner add_pavi_command(CLI::App& app);
Runner add_sde_command(CLI::App& app);

// Exit codes: 2 for bad input or settings, 3 for a training failure.
constexpr int kExitBadInput = 2;
constexpr int kExitTrainingFailed = 3;

}  // namespace amortize::cli
