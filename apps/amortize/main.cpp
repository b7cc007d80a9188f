// amortize: the command-line entry point. Each subcommand lives in its own file and
// registers itself here; errors become one line on stderr and a non-zero exit code.
#include "amortize/infer/checkpoint.hpp"
#include "amortize/infer/trainer.hpp"
#include "amortize/io/data_file.hpp"
#include "commands.hpp"

#include <ATen/Parallel.h>

#include <cstdlib>
#include <iostream>
#include <map>

int main(int argc, char** argv) {
  // One thread unless told otherwise: LibTorch's and OpenBLAS's pools fight on small machines.
  setenv("OPENBLAS_NUM_THREADS", "1", 0);
  at::set_num_threads(1);
  CLI::App app{"amortize: fast, scalable variational inference"};
  app.set_version_flag("--version", std::string("amortize ") + AMORTIZE_VERSION);
  app.require_subcommand(0, 1);
  // Parse errors (unknown option, bad value) are one line on stderr, like every other error.
  app.failure_message(
      [](const CLI::App*, const CLI::Error& e) { return std::string("amortize: ") + e.what() + " (see --help)\n"; });
  std::map<std::string, amortize::cli::Runner> runners;
  runners["models"] = amortize::cli::add_models_command(app);
  runners["fit"] = amortize::cli::add_fit_command(app);
  runners["vae"] = amortize::cli::add_vae_command(app);
  runners["pavi"] = amortize::cli::add_pavi_command(app);
  runners["sde"] = amortize::cli::add_sde_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : amortize::cli::kExitBadInput;
  }
  if (app.get_subcommands().empty()) {
    std::cout << app.help();
    return 0;
  }
  const std::string name = app.get_subcommands().front()->get_name();
  try {
    return runners.at(name)();
  } catch (const amortize::io::DataError& e) {
    std::cerr << "amortize " << name << ": " << e.what() << "\n";
    return amortize::cli::kExitBadInput;
  } catch (const amortize::infer::CheckpointError& e) {  // a missing or corrupt checkpoint is bad input
    std::cerr << "amortize " << name << ": " << e.what() << "\n";
    return amortize::cli::kExitBadInput;
  } catch (const amortize::infer::NonFiniteTrainingError& e) {  // the last good checkpoint is kept
    std::cerr << "amortize " << name << ": " << e.what() << "\n";
    return amortize::cli::kExitTrainingFailed;
  } catch (const std::invalid_argument& e) {
    std::cerr << "amortize " << name << ": " << e.what() << "\n";
    return amortize::cli::kExitBadInput;
  } catch (const std::exception& e) {
    std::cerr << "amortize " << name << ": " << amortize::infer::first_line(e) << "\n";
    return 1;
  }
}
