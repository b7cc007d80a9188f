#include "amortize/io/gnuplot.hpp"

#include "amortize/io/output_folder.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

extern char** environ;

namespace amortize::io {
namespace fs = std::filesystem;

namespace {
// gnuplot single-quoted string: a quote is written twice.
std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "''";
    else
      out += c;
  }
  return out + "'";
}

struct TempFiles {
  std::vector<fs::path> paths;
  ~TempFiles() {
    std::error_code ec;
    for (const auto& p : paths) fs::remove(p, ec);
  }
};

std::string first_line_of(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.find_first_not_of(" \t^") != std::string::npos) return line;
  }
  return {};
}
}  // namespace

std::vector<double> moving_average(const std::vector<double>& values, size_t window) {
  window = std::max<size_t>(window, 1);
  std::vector<double> out(values.size());
  double sum = 0;
  size_t count = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    if (std::isfinite(values[i])) sum += values[i], ++count;
    if (i >= window && std::isfinite(values[i - window])) sum -= values[i - window], --count;
    out[i] = count ? sum / static_cast<double>(count) : std::nan("");
  }
  return out;
}

std::string plot_loss_png(const std::vector<double>& steps, const std::vector<double>& elbo, const fs::path& png,
                          const LossPlotOptions& options) {
  if (steps.size() != elbo.size() || steps.empty()) return "no ELBO values to plot";
  const size_t n = elbo.size();
  const size_t window = std::max<size_t>(1, n / 50);
  const auto smooth = moving_average(elbo, window);

  // y range: from the part of the run after its first 10 % (all of it when short).
  std::vector<double> tail;
  for (size_t i = n >= 20 ? n / 10 : 0; i < n; ++i) {
    if (std::isfinite(elbo[i])) tail.push_back(elbo[i]);
  }
  if (tail.empty()) return "every ELBO value is non-finite";
  std::sort(tail.begin(), tail.end());
  double lo = tail[static_cast<size_t>(0.01 * static_cast<double>(tail.size() - 1))];
  double hi = tail.back();
  const double pad = hi > lo ? 0.08 * (hi - lo) : std::max(1.0, std::abs(hi) * 0.01);
  lo -= pad;
  hi += pad;

  TempFiles temps;
  const fs::path data = png.parent_path() / ("." + png.filename().string() + ".data.tmp");
  const fs::path script = png.parent_path() / ("." + png.filename().string() + ".gp.tmp");
  const fs::path log = png.parent_path() / ("." + png.filename().string() + ".log.tmp");
  const fs::path tmp_png = temporary_path(png);
  temps.paths = {data, script, log, tmp_png};
  {
    std::ofstream out(data);
    out.precision(10);
    for (size_t i = 0; i < n; ++i) {
      out << steps[i] << ',';
      if (std::isfinite(elbo[i]))
        out << elbo[i];
      else
        out << "NaN";
      out << ',' << smooth[i] << '\n';
    }
    if (!out) return "cannot write the plot's data file in " + png.parent_path().string();
  }
  {
    std::ofstream out(script);
    out.precision(10);
    out << "set terminal pngcairo size " << options.width << ',' << options.height
        << " enhanced font 'DejaVu Sans,11'\n"
        << "set output " << quoted(tmp_png.string()) << "\n"
        << "set datafile separator ','\n"
        << "set datafile missing 'NaN'\n"
        << "set title " << quoted(options.title) << " noenhanced\n"
        << "set xlabel 'step'\nset ylabel 'ELBO (higher is better)'\n"
        << "set grid lc rgb '#dddddd'\nset key bottom right opaque box lc rgb '#bbbbbb'\nset border lc rgb '#555555'\n"
        << "set xrange [" << steps.front() << ':' << steps.back() << "]\n"
        << "set yrange [" << lo << ':' << hi << "]\n"
        << "plot " << quoted(data.string())
        << " using 1:2 with lines lc rgb '#9ecae1' lw 1 title 'ELBO estimate per step', \\\n"
        << "     '' using 1:3 with lines lc rgb '#08519c' lw 2.5 title 'moving average over " << window << " steps'\n";
    if (!out) return "cannot write the gnuplot script in " + png.parent_path().string();
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::string program = options.gnuplot, script_arg = script.string();
  char* argv[] = {program.data(), script_arg.data(), nullptr};
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, program.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return "cannot run " + options.gnuplot + " (" + std::string(std::strerror(rc)) + ")";
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return "lost track of " + options.gnuplot;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    const auto why = first_line_of(log);
    return options.gnuplot + " failed" + (why.empty() ? std::string() : ": " + why);
  }
  std::error_code ec;
  if (!fs::exists(tmp_png, ec) || fs::file_size(tmp_png, ec) == 0) return options.gnuplot + " wrote no image";
  fs::rename(tmp_png, png, ec);
  if (ec) return "cannot rename the plot into " + png.string();
  return {};
}

}  // namespace amortize::io
