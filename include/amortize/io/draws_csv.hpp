// Posterior draws in CmdStan's variational CSV layout, so that cmdstanpy, ArviZ and R's
// posterior read them: `#` comment lines with the settings, the header
// `lp__,log_p__,log_g__,<parameters>` with CmdStan's element names (`beta.1`, `theta.1.2`,
// containers flattened first index fastest, as CmdStan does), the step-size comment pair that
// cmdstanpy looks for, then the approximation's centre as the first row (lp__, log_p__ and
// log_g__ written as 0, as CmdStan does) and one row per draw.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <utility>
#include <vector>

namespace amortize::io {

// CmdStan's column names of a variable of the given shape, in CmdStan's (column-major) order:
// "mu"; "beta.1", "beta.2"; "L.1.1", "L.2.1", "L.1.2", "L.2.2".
std::vector<std::string> cmdstan_element_names(const std::string& variable, at::IntArrayRef shape);

// Flattens (num_draws, shape...) into (num_draws, numel) in CmdStan's column order.
at::Tensor cmdstan_flatten(const at::Tensor& draws);

class VariationalCsv {
 public:
  // A `# key = value` line in the header block (in the order added).
  void add_setting(const std::string& key, const std::string& value);
  // A free `# text` line after the settings.
  void add_comment(const std::string& text);
  // A variable: its centre (shape...) and its draws (num_draws, shape...); every variable must
  // have the same number of draws.
  void add_variable(const std::string& name, const at::Tensor& centre, const at::Tensor& draws);
  // log p(x, theta) and log q(theta) at each draw (num_draws); zeros when never set.
  void set_log_densities(const at::Tensor& log_p, const at::Tensor& log_g);
  // The step size written as `# eta = ...` after "# Stepsize adaptation complete.".
  void set_step_size(double eta) { eta_ = eta; }

  std::vector<std::string> columns() const;  // the full header, lp__ first
  int64_t num_draws() const { return num_draws_; }
  std::string str() const;

 private:
  std::vector<std::pair<std::string, std::string>> settings_;
  std::vector<std::string> comments_;
  std::vector<std::string> parameter_columns_;
  std::vector<at::Tensor> centres_;  // (numel) each, float64
  std::vector<at::Tensor> draws_;    // (num_draws, numel) each, float64
  at::Tensor log_p_, log_g_;
  int64_t num_draws_ = -1;
  double eta_ = 1.0;
};

}  // namespace amortize::io
