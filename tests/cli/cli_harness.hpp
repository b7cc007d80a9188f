// The harness of the command-line tests: runs the built `amortize` binary as a child process
// and captures its exit code, stdout and stderr, in a scratch folder that each suite owns.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#ifndef AMORTIZE_CLI_PATH
#error "AMORTIZE_CLI_PATH must name the amortize binary"
#endif

namespace amortize::cli_test {

namespace fs = std::filesystem;

struct CliResult {
  int code = -1;  // the exit code; -1 when the process did not exit normally
  std::string out, err;
};

inline std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// An empty folder `<temp>/<name>_<pid>` (emptied first when it exists).
inline fs::path fresh_scratch_folder(const std::string& name) {
  const auto dir = fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Runs `amortize <args>` through the shell; stdout and stderr go through numbered files in `scratch`.
inline CliResult run_cli(const std::string& args, const fs::path& scratch) {
  static int counter = 0;
  const auto out = scratch / ("stdout_" + std::to_string(counter));
  const auto err = scratch / ("stderr_" + std::to_string(counter++));
  const std::string cmd = std::string(AMORTIZE_CLI_PATH) + " " + args + " > " + out.string() + " 2> " + err.string();
  const int status = std::system(cmd.c_str());
  CliResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_text(out);
  r.err = read_text(err);
  return r;
}

}  // namespace amortize::cli_test
