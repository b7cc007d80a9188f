#include "amortize/infer/trainer.hpp"

#include "amortize/infer/checkpoint.hpp"
#include "amortize/model/param_store.hpp"

#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <limits>
#include <mutex>
#include <sstream>

namespace amortize::infer {
namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string format_seconds(double s) {
  std::ostringstream out;
  if (!std::isfinite(s)) return "?";
  const auto total = static_cast<int64_t>(std::llround(s));
  if (total >= 3600) {
    out << total / 3600 << "h" << std::setw(2) << std::setfill('0') << (total % 3600) / 60 << "m";
  } else if (total >= 60) {
    out << total / 60 << "m" << std::setw(2) << std::setfill('0') << total % 60 << "s";
  } else {
    out << total << "s";
  }
  return out.str();
}

int64_t default_window(const ConvergenceOptions& c, int64_t max_steps) {
  if (c.window > 0) return c.window;
  return std::max<int64_t>(2, static_cast<int64_t>(0.1 * static_cast<double>(max_steps) /
                                                   static_cast<double>(std::max<int64_t>(1, c.eval_every))));
}
}  // namespace

std::map<std::string, Tensor> param_store_parameters() {
  const auto& store = model::active_param_store();
  std::map<std::string, Tensor> out;
  for (const auto& name : store.names()) out.emplace(name, store.entry(name).unconstrained);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Stopping rule

RelativeChangeRule::RelativeChangeRule(int64_t eval_every, double tolerance, int64_t window)
    : eval_every_(eval_every), tolerance_(tolerance), window_(static_cast<size_t>(window)) {
  if (eval_every <= 0) throw std::invalid_argument("convergence rule: eval_every must be positive");
  if (!(tolerance > 0)) throw std::invalid_argument("convergence rule: tolerance must be positive");
  if (window <= 0) throw std::invalid_argument("convergence rule: window must be positive");
}

bool RelativeChangeRule::observe(double elbo) {
  block_sum_ += elbo;
  if (++block_count_ < eval_every_) return false;
  const double mean = block_sum_ / static_cast<double>(block_count_);
  block_sum_ = 0.0;
  block_count_ = 0;
  if (previous_block_mean_) {
    // Stan's rel_difference(curr, prev) = |(prev - curr) / curr|.
    changes_.push_back(std::fabs((*previous_block_mean_ - mean) / mean));
    if (changes_.size() > window_) changes_.pop_front();
  }
  previous_block_mean_ = mean;
  if (changes_.size() < 2) return false;
  if (mean_change() < tolerance_) {
    converged_by_ = "mean";
    return true;
  }
  if (median_change() < tolerance_) {
    converged_by_ = "median";
    return true;
  }
  return false;
}

double RelativeChangeRule::mean_change() const {
  if (changes_.empty()) return kNaN;
  double sum = 0.0;
  for (double c : changes_) sum += c;
  return sum / static_cast<double>(changes_.size());
}

double RelativeChangeRule::median_change() const {
  if (changes_.empty()) return kNaN;
  std::vector<double> sorted(changes_.begin(), changes_.end());
  std::sort(sorted.begin(), sorted.end());
  const size_t n = sorted.size();
  return n % 2 == 1 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
}

std::vector<double> RelativeChangeRule::state() const {
  std::vector<double> s{block_sum_, static_cast<double>(block_count_), previous_block_mean_ ? 1.0 : 0.0,
                        previous_block_mean_.value_or(0.0)};
  s.insert(s.end(), changes_.begin(), changes_.end());
  return s;
}

void RelativeChangeRule::set_state(const std::vector<double>& s) {
  if (s.size() < 4) throw std::runtime_error("convergence rule state is incomplete");
  block_sum_ = s[0];
  block_count_ = static_cast<int64_t>(s[1]);
  previous_block_mean_.reset();
  if (s[2] != 0.0) previous_block_mean_ = s[3];
  changes_.assign(s.begin() + 4, s.end());
  converged_by_.clear();
}

// ---------------------------------------------------------------------------------------------
// Trainer

Trainer::Trainer(LossFn loss, std::shared_ptr<optim::Optimizer> optimizer, at::Generator generator,
                 TrainerOptions options)
    : loss_(std::move(loss)),
      optimizer_(std::move(optimizer)),
      generator_(std::move(generator)),
      options_(std::move(options)),
      convergence_(options_.convergence.eval_every, options_.convergence.tolerance,
                   default_window(options_.convergence, options_.max_steps)) {
  if (!loss_) throw std::invalid_argument("trainer: no loss closure");
  if (!optimizer_) throw std::invalid_argument("trainer: no optimiser");
  if (!generator_.defined()) throw std::invalid_argument("trainer: no generator");
  if (options_.max_steps <= 0) {
    throw std::invalid_argument("trainer: max_steps must be positive, got " + std::to_string(options_.max_steps));
  }
  if (options_.max_consecutive_nonfinite <= 0) {
    throw std::invalid_argument("trainer: max_consecutive_nonfinite must be positive");
  }
  const auto& ab = options_.adaptive_batch;
  if (ab.enabled) {
    if (!ab.set_batch_size) throw std::invalid_argument("trainer: adaptive batch size needs set_batch_size");
    if (ab.initial_batch_size <= 0 || ab.max_batch_size < ab.initial_batch_size || ab.growth < 2 || ab.window < 3) {
      throw std::invalid_argument(
          "trainer: adaptive batch size needs 0 < initial <= max batch size, growth >= 2 and window >= 3");
    }
    batch_size_ = ab.initial_batch_size;
  }
  last_snr_ = kNaN;
  if (options_.progress == ProgressMode::kBar) {
    bar_ = true;
  } else if (options_.progress == ProgressMode::kAuto) {
    bar_ = options_.progress_stream == nullptr && isatty(fileno(stderr));
  }
}

Trainer::~Trainer() = default;

std::map<std::string, Tensor> Trainer::current_parameters() const {
  return options_.parameters ? options_.parameters() : param_store_parameters();
}

void Trainer::zero_grads(const std::map<std::string, Tensor>& params) const {
  for (const auto& [name, p] : params) {
    if (p.grad().defined()) const_cast<Tensor&>(p).mutable_grad() = Tensor();
  }
}

std::string Trainer::nonfinite_gradient(const std::map<std::string, Tensor>& params) const {
  // One reduction per gradient: a sum is finite unless some element is non-finite (or the sum
  // overflows, which the exact check below then clears).
  std::vector<Tensor> sums;
  for (const auto& [name, p] : params) {
    const Tensor& g = p.grad();
    if (!g.defined()) continue;
    Tensor s = g.is_sparse() ? g._values().sum() : g.sum();
    if (!sums.empty() && (s.scalar_type() != sums.front().scalar_type() || s.device() != sums.front().device())) {
      s = s.to(sums.front().options());
    }
    sums.push_back(std::move(s));
  }
  if (sums.empty()) return "";
  if (std::isfinite(at::stack(sums).sum().item<double>())) return "";
  for (const auto& [name, p] : params) {
    const Tensor& g = p.grad();
    if (!g.defined()) continue;
    const Tensor values = g.is_sparse() ? g._values() : g;
    if (!values.isfinite().all().item<bool>()) return name;
  }
  return "";
}

bool Trainer::step() {
  const int64_t index = step_;
  LossEvaluation eval = loss_(index);
  if (!eval.loss.defined() || eval.loss.numel() != 1) {
    throw std::invalid_argument("trainer: the loss closure must return a scalar tensor (step " +
                                std::to_string(index + 1) + ")");
  }
  const auto params = current_parameters();
  optimizer_->add_parameters(params);
  const double loss_value = eval.loss.item<double>();
  const double elbo = eval.elbo.value_or(-loss_value);
  ++step_;

  std::string reason;
  if (!std::isfinite(loss_value) || !std::isfinite(elbo)) {
    reason = "loss";
  } else {
    zero_grads(params);
    eval.loss.backward();
    const std::string name = nonfinite_gradient(params);
    if (!name.empty()) reason = "gradient of '" + name + "'";
  }
  if (!reason.empty()) {
    zero_grads(params);
    ++skipped_;
    ++consecutive_nonfinite_;
    last_skip_reason_ = reason;
    log_line("step " + std::to_string(step_) + ": skipped, non-finite " + reason);
    if (options_.on_step) options_.on_step(step_, elbo);
    if (consecutive_nonfinite_ >= options_.max_consecutive_nonfinite) {
      std::string message = "training stopped at step " + std::to_string(step_) + ": " +
                            std::to_string(consecutive_nonfinite_) +
                            " consecutive steps with a non-finite loss or gradient (last: " + reason + ")";
      if (!options_.checkpoint_path.empty()) {
        std::error_code ec;
        message += std::filesystem::exists(options_.checkpoint_path, ec)
                       ? "; the last good checkpoint is " + options_.checkpoint_path
                       : "; no checkpoint was written before it";
      }
      throw NonFiniteTrainingError(message);
    }
    return false;
  }
  consecutive_nonfinite_ = 0;
  if (options_.adaptive_batch.enabled) observe_gradients(params);
  optimizer_->step(options_.schedule ? options_.schedule(index) : 1.0);
  zero_grads(params);
  last_elbo_ = elbo;
  if (options_.on_step) options_.on_step(step_, elbo);
  if (options_.convergence.enabled && convergence_.observe(elbo)) converged_ = true;
  if (!options_.checkpoint_path.empty() && options_.checkpoint_every > 0 && step_ % options_.checkpoint_every == 0) {
    save_checkpoint(options_.checkpoint_path);
  }
  return true;
}

void Trainer::observe_gradients(const std::map<std::string, Tensor>& params) {
  at::NoGradGuard no_grad;
  std::vector<Tensor> distances;
  for (const auto& [name, p] : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (g.is_sparse()) g = g.to_dense();
    auto sum = snr_sum_.find(name);
    if (sum == snr_sum_.end()) {
      snr_sum_.emplace(name, g.detach().clone());
    } else {
      sum->second.add_(g);
    }
    auto previous = snr_previous_.find(name);
    if (previous == snr_previous_.end()) {
      snr_previous_.emplace(name, g.detach().clone());
    } else {
      distances.push_back(at::dist(g, previous->second).to(at::kDouble));
      previous->second.copy_(g);
    }
  }
  ++snr_count_;
  if (!distances.empty()) snr_diff_sq_ += at::stack(distances).square().sum().item<double>();
  const auto& ab = options_.adaptive_batch;
  if (snr_count_ < ab.window) return;
  const double n = static_cast<double>(snr_count_);
  const double noise = snr_diff_sq_ / (2.0 * (n - 1.0));  // tr Cov g
  double mean_sq = 0.0;
  for (const auto& [name, s] : snr_sum_) mean_sq += s.square().sum().item<double>() / (n * n);
  const double signal = mean_sq - noise / n;  // |E g|^2, unbiased
  last_snr_ = noise > 0 ? signal / noise : std::numeric_limits<double>::infinity();
  snr_sum_.clear();
  snr_previous_.clear();
  snr_count_ = 0;
  snr_diff_sq_ = 0.0;
  if (last_snr_ < ab.snr_threshold && batch_size_ < ab.max_batch_size) {
    batch_size_ = std::min(ab.max_batch_size, batch_size_ * ab.growth);
    ab.set_batch_size(batch_size_);
    std::ostringstream line;
    line << "step " << step_ << ": gradient SNR " << std::setprecision(3) << last_snr_ << " below " << ab.snr_threshold
         << ", batch size now " << batch_size_;
    log_line(line.str());
  }
}

TrainResult Trainer::run() {
  run_start_ = std::chrono::steady_clock::now();
  last_report_ = run_start_;
  run_start_step_ = step_;
  converged_ = false;
  while (step_ < options_.max_steps && !converged_) {
    step();
    report_progress(false);
  }
  report_progress(true);
  if (!options_.checkpoint_path.empty()) save_checkpoint(options_.checkpoint_path);
  TrainResult result;
  result.steps = step_;
  result.skipped_steps = skipped_;
  result.converged = converged_;
  result.stop_reason = converged_ ? "converged (" + convergence_.converged_by() + ")" : "step budget";
  result.last_elbo = last_elbo_;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start_).count();
  result.batch_size = batch_size_;
  return result;
}

void Trainer::log_line(const std::string& line) {
  if (options_.progress == ProgressMode::kSilent) return;
  std::ostream& out = options_.progress_stream ? *options_.progress_stream : std::cerr;
  if (bar_) out << "\r\033[K";
  out << line << '\n' << std::flush;
}

void Trainer::report_progress(bool final) {
  if (options_.progress == ProgressMode::kSilent) return;
  const auto now = std::chrono::steady_clock::now();
  const int64_t every = options_.log_every > 0 ? options_.log_every : std::max<int64_t>(1, options_.max_steps / 10);
  if (bar_) {
    if (!final && now - last_report_ < std::chrono::milliseconds(100)) return;
  } else if (!final && step_ % every != 0) {
    return;
  }
  last_report_ = now;
  const double elapsed = std::chrono::duration<double>(now - run_start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(step_ - run_start_step_) / elapsed : 0.0;
  const double eta = rate > 0 ? static_cast<double>(options_.max_steps - step_) / rate : kNaN;
  std::ostringstream line;
  line << "step " << step_ << "/" << options_.max_steps << "  ELBO " << std::setprecision(6) << last_elbo_ << "  "
       << std::fixed << std::setprecision(0) << rate << " steps/s  " << (final ? "elapsed " : "ETA ")
       << format_seconds(final ? elapsed : eta);
  if (skipped_ > 0) line << "  skipped " << skipped_;
  std::ostream& out = options_.progress_stream ? *options_.progress_stream : std::cerr;
  if (bar_) {
    out << "\r\033[K" << line.str() << (final ? "\n" : "") << std::flush;
  } else {
    out << line.str() << '\n' << std::flush;
  }
}

// ---------------------------------------------------------------------------------------------
// Checkpoints

void Trainer::save_checkpoint(const std::string& path) const {
  torch::serialize::OutputArchive archive;
  write_named_tensors(archive, "params", current_parameters());
  torch::serialize::OutputArchive optimizer;
  optimizer_->save(optimizer);
  archive.write("optimizer", optimizer);
  archive.write("rng", generator_.get_state(), /*is_buffer=*/true);
  archive.write("step", c10::IValue(step_));
  archive.write("skipped", c10::IValue(skipped_));
  archive.write("consecutive_nonfinite", c10::IValue(consecutive_nonfinite_));
  archive.write("last_elbo", c10::IValue(last_elbo_));
  c10::List<double> rule;
  for (double v : convergence_.state()) rule.push_back(v);
  archive.write("convergence", c10::IValue(rule));
  archive.write("batch_size", c10::IValue(batch_size_));
  archive.write("snr_count", c10::IValue(snr_count_));
  archive.write("snr_diff_sq", c10::IValue(snr_diff_sq_));
  archive.write("last_snr", c10::IValue(last_snr_));
  write_named_tensors(archive, "snr_sum", snr_sum_);
  write_named_tensors(archive, "snr_previous", snr_previous_);
  write_named_tensors(archive, "extra",
                      options_.save_extra_state ? options_.save_extra_state() : std::map<std::string, Tensor>{});
  write_checkpoint(archive, path);
}

void Trainer::resume(const std::string& path) {
  torch::serialize::InputArchive archive;
  read_checkpoint(archive, path);
  try {
    const auto saved = read_named_tensors(archive, "params");
    Tensor rng;
    archive.read("rng", rng, /*is_buffer=*/true);
    c10::IValue value;
    archive.read("step", value);
    const int64_t saved_step = value.toInt();

    auto params = current_parameters();
    const bool missing =
        std::any_of(saved.begin(), saved.end(), [&](const auto& kv) { return !params.count(kv.first); });
    if (missing) {
      // Parameters are created lazily by the loss: one evaluation creates them; the generator
      // is reset below, so the draws of this evaluation leave no trace.
      loss_(saved_step);
      params = current_parameters();
      zero_grads(params);
    }
    {
      at::NoGradGuard no_grad;
      for (const auto& [name, t] : saved) {
        auto it = params.find(name);
        if (it == params.end()) {
          throw CheckpointError("checkpoint " + path + ": parameter '" + name + "' does not exist in this run");
        }
        if (it->second.sizes() != t.sizes()) {
          throw CheckpointError("checkpoint " + path + ": parameter '" + name + "' has shape " + c10::str(t.sizes()) +
                                ", expected " + c10::str(it->second.sizes()));
        }
        it->second.copy_(t);
      }
    }
    optimizer_->add_parameters(params);
    torch::serialize::InputArchive optimizer;
    archive.read("optimizer", optimizer);
    optimizer_->load(optimizer);
    {
      std::lock_guard<std::mutex> lock(generator_.mutex());
      generator_.set_state(rng);
    }
    step_ = saved_step;
    archive.read("skipped", value);
    skipped_ = value.toInt();
    archive.read("consecutive_nonfinite", value);
    consecutive_nonfinite_ = value.toInt();
    archive.read("last_elbo", value);
    last_elbo_ = value.toDouble();
    archive.read("convergence", value);
    std::vector<double> rule;
    for (const auto& v : value.toListRef()) rule.push_back(v.toDouble());
    convergence_.set_state(rule);
    archive.read("batch_size", value);
    const int64_t saved_batch = value.toInt();
    archive.read("snr_count", value);
    snr_count_ = value.toInt();
    archive.read("snr_diff_sq", value);
    snr_diff_sq_ = value.toDouble();
    archive.read("last_snr", value);
    last_snr_ = value.toDouble();
    snr_sum_ = read_named_tensors(archive, "snr_sum");
    snr_previous_ = read_named_tensors(archive, "snr_previous");
    const auto extra = read_named_tensors(archive, "extra");
    if (options_.load_extra_state) options_.load_extra_state(extra);
    if (options_.adaptive_batch.enabled && saved_batch > 0) {
      batch_size_ = saved_batch;
      options_.adaptive_batch.set_batch_size(batch_size_);
    }
  } catch (const CheckpointError&) {
    throw;
  } catch (const std::exception& e) {
    throw CheckpointError("checkpoint " + path + ": " + first_line(e));
  }
}

}  // namespace amortize::infer
