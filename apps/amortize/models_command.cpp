// `amortize models`: lists the built-in models and the data fields each needs.
#include "commands.hpp"
#include "zoo.hpp"

#include <iostream>

namespace amortize::cli {

Runner add_models_command(CLI::App& app) {
  app.add_subcommand("models", "List the built-in models and their data fields");
  return [] {
    for (const auto& spec : models::zoo()) {
      std::cout << spec.name << "\n  " << spec.description << "\n  data:";
      for (const auto& f : spec.data_fields) std::cout << ' ' << f;
      std::cout << "\n";
    }
    return 0;
  };
}

}  // namespace amortize::cli
