// amortize: the command-line entry point. Each subcommand lives in its own file and
// registers itself here; errors become one line on stderr and a non-zero exit code.
#include <CLI/CLI.hpp>

#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"amortize: fast, scalable variational inference"};
  app.set_version_flag("--version", std::string("amortize ") + AMORTIZE_VERSION);
  app.require_subcommand(0, 1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (app.get_subcommands().empty()) std::cout << app.help();
  return 0;
}
