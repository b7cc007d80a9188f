// Plots for people: the ELBO trace of a run drawn as a PNG by gnuplot's pngcairo terminal
// (gnuplot is spawned with a generated script). A missing or failing gnuplot is reported back
// as a reason, never thrown: a run's results do not depend on its plot.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace amortize::io {

struct LossPlotOptions {
  std::string title = "ELBO";
  std::string gnuplot = "gnuplot";  // program name (looked up on PATH) or path
  int width = 900, height = 560;
};

// Draws ELBO against step into `png` (written to a temporary name, then renamed): the raw
// estimates in a light colour, their moving average in a dark one, the y range fitted to the
// part of the run after the first steps so that early transients do not flatten the curve.
// Returns an empty string on success, else the reason the plot was not drawn.
std::string plot_loss_png(const std::vector<double>& steps, const std::vector<double>& elbo,
                          const std::filesystem::path& png, const LossPlotOptions& options = {});

// The trailing moving average used for the plot (window >= 1; non-finite values skipped).
std::vector<double> moving_average(const std::vector<double>& values, size_t window);

}  // namespace amortize::io
