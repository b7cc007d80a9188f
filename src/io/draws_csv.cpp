#include "amortize/io/draws_csv.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace amortize::io {
namespace {
void append_number(std::string& out, double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", x);
  out += buf;
}
}  // namespace

std::vector<std::string> cmdstan_element_names(const std::string& variable, at::IntArrayRef shape) {
  if (shape.empty()) return {variable};
  int64_t total = 1;
  for (auto s : shape) total *= s;
  std::vector<std::string> names;
  names.reserve(static_cast<size_t>(total));
  for (int64_t flat = 0; flat < total; ++flat) {
    // Column-major: the first index varies fastest.
    std::string name = variable;
    int64_t rest = flat;
    for (auto s : shape) {
      name += "." + std::to_string(rest % s + 1);
      rest /= s;
    }
    names.push_back(std::move(name));
  }
  return names;
}

at::Tensor cmdstan_flatten(const at::Tensor& draws) {
  if (draws.dim() < 1) throw std::invalid_argument("cmdstan_flatten: draws need a leading draw dimension");
  std::vector<int64_t> order{0};
  for (int64_t d = draws.dim() - 1; d >= 1; --d) order.push_back(d);
  return draws.permute(order).reshape({draws.size(0), -1});
}

void VariationalCsv::add_setting(const std::string& key, const std::string& value) {
  settings_.emplace_back(key, value);
}

void VariationalCsv::add_comment(const std::string& text) { comments_.push_back(text); }

void VariationalCsv::add_variable(const std::string& name, const at::Tensor& centre, const at::Tensor& draws) {
  if (draws.dim() != centre.dim() + 1 || draws.sizes().slice(1) != centre.sizes()) {
    throw std::invalid_argument("draws CSV: variable '" + name + "' has draws of shape " + std::to_string(draws.dim()) +
                                "-d that do not match its centre's shape");
  }
  if (num_draws_ >= 0 && draws.size(0) != num_draws_) {
    throw std::invalid_argument("draws CSV: variable '" + name + "' has " + std::to_string(draws.size(0)) +
                                " draws, the others " + std::to_string(num_draws_));
  }
  num_draws_ = draws.size(0);
  auto cpu = at::TensorOptions().dtype(at::kDouble).device(at::kCPU);
  auto names = cmdstan_element_names(name, centre.sizes());
  parameter_columns_.insert(parameter_columns_.end(), names.begin(), names.end());
  centres_.push_back(cmdstan_flatten(centre.detach().unsqueeze(0)).to(cpu).reshape({-1}).contiguous());
  draws_.push_back(cmdstan_flatten(draws.detach()).to(cpu).contiguous());
}

void VariationalCsv::set_log_densities(const at::Tensor& log_p, const at::Tensor& log_g) {
  auto cpu = at::TensorOptions().dtype(at::kDouble).device(at::kCPU);
  log_p_ = log_p.detach().to(cpu).reshape({-1}).contiguous();
  log_g_ = log_g.detach().to(cpu).reshape({-1}).contiguous();
  if (log_p_.size(0) != log_g_.size(0) || (num_draws_ >= 0 && log_p_.size(0) != num_draws_)) {
    throw std::invalid_argument("draws CSV: log densities must have one value per draw");
  }
}

std::vector<std::string> VariationalCsv::columns() const {
  std::vector<std::string> cols{"lp__", "log_p__", "log_g__"};
  cols.insert(cols.end(), parameter_columns_.begin(), parameter_columns_.end());
  return cols;
}

std::string VariationalCsv::str() const {
  const int64_t n = std::max<int64_t>(num_draws_, 0);
  std::string out;
  for (const auto& [key, value] : settings_) out += "# " + key + " = " + value + "\n";
  for (const auto& text : comments_) out += "# " + text + "\n";
  const auto cols = columns();
  for (size_t c = 0; c < cols.size(); ++c) out += (c ? "," : "") + cols[c];
  out += "\n# Stepsize adaptation complete.\n# eta = ";
  append_number(out, eta_);
  out += "\n";
  auto write_row = [&](double lp, double log_p, double log_g, auto value_of) {
    append_number(out, lp);
    out += ',';
    append_number(out, log_p);
    out += ',';
    append_number(out, log_g);
    for (size_t v = 0; v < draws_.size(); ++v) {
      const int64_t width = draws_[v].size(1);
      for (int64_t j = 0; j < width; ++j) {
        out += ',';
        append_number(out, value_of(v, j));
      }
    }
    out += '\n';
  };
  write_row(0, 0, 0, [&](size_t v, int64_t j) { return centres_[v].data_ptr<double>()[j]; });
  const double* lp = log_p_.defined() ? log_p_.data_ptr<double>() : nullptr;
  const double* lg = log_g_.defined() ? log_g_.data_ptr<double>() : nullptr;
  for (int64_t i = 0; i < n; ++i) {
    write_row(0, lp ? lp[i] : 0.0, lg ? lg[i] : 0.0,
              [&](size_t v, int64_t j) { return draws_[v].data_ptr<double>()[i * draws_[v].size(1) + j]; });
  }
  return out;
}

}  // namespace amortize::io
