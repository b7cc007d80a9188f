// The step loop shared by every objective (SVI, plate-amortized VI, latent SDEs): it evaluates
// a loss closure, back-propagates, guards against non-finite losses and gradients, updates the
// parameters with an optimiser under a learning-rate schedule, reports progress, logs the ELBO,
// stops on a step budget or Stan ADVI's relative-ELBO-change rule, can grow the minibatch when
// the gradient gets noisy, and writes checkpoints from which a run resumes bit for bit.
#pragma once
#include "amortize/infer/optim/optimizer.hpp"
#include "amortize/infer/optim/schedule.hpp"

#include <ATen/core/Generator.h>

#include <chrono>
#include <deque>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace amortize::infer {

// What a loss closure returns: the loss to minimise (a scalar with graph) and, optionally, the
// ELBO estimate to report (when absent, -loss is reported). Converts from a plain Tensor.
struct LossEvaluation {
  LossEvaluation(Tensor loss_tensor) : loss(std::move(loss_tensor)) {}  // NOLINT: implicit on purpose
  LossEvaluation(Tensor loss_tensor, double elbo_value) : loss(std::move(loss_tensor)), elbo(elbo_value) {}
  Tensor loss;
  std::optional<double> elbo;
};
// Called once per step with the step's index (from 0, counted from the run's start). It may
// create parameters on its first call and must draw every random number from the trainer's
// generator.
using LossFn = std::function<LossEvaluation(int64_t step)>;
// The current learnable parameters by name (unconstrained leaves).
using ParameterSource = std::function<std::map<std::string, Tensor>()>;
// The active parameter store's leaves by name (the default source).
std::map<std::string, Tensor> param_store_parameters();

// Thrown when too many consecutive steps were non-finite; the CLI exits with code 3.
class NonFiniteTrainingError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class ProgressMode {
  kAuto,   // a bar if stderr is a terminal, else periodic lines
  kBar,    // one line rewritten in place
  kLines,  // a line every log_every steps
  kSilent,
};

// Stan ADVI's stopping rule: every `eval_every` steps the mean ELBO of those steps is compared
// with the previous block's mean; the relative changes |(prev - cur) / cur| of the last
// `window` blocks go into a circular buffer, and the run has converged when their mean or
// median falls below `tolerance` (checked once the buffer holds two changes).
struct ConvergenceOptions {
  bool enabled = false;
  int64_t eval_every = 100;
  double tolerance = 0.01;
  // Buffer length; 0: Stan's heuristic max(2, 0.1 * max_steps / eval_every).
  int64_t window = 0;
};

class RelativeChangeRule {
 public:
  RelativeChangeRule(int64_t eval_every, double tolerance, int64_t window);
  // Feeds one step's ELBO; returns true when the run has converged.
  bool observe(double elbo);
  double mean_change() const;
  double median_change() const;
  // "mean" or "median": which statistic fell below the tolerance.
  const std::string& converged_by() const { return converged_by_; }

  // State, for checkpoints.
  std::vector<double> state() const;
  void set_state(const std::vector<double>& state);

 private:
  int64_t eval_every_;
  double tolerance_;
  size_t window_;
  double block_sum_ = 0.0;
  int64_t block_count_ = 0;
  std::optional<double> previous_block_mean_;
  std::deque<double> changes_;
  std::string converged_by_;
};

// Adaptive minibatch size: over windows of `window` steps the trainer estimates the gradient's
// signal-to-noise ratio SNR = |E g|^2 / tr Cov g, with the noise measured from successive
// differences (E|g_t - g_{t-1}|^2 / 2, insensitive to the slow drift of the mean gradient) and
// |E g|^2 corrected for the noise in the window mean. When SNR < threshold, the batch size is
// multiplied by `growth` (capped at `max_batch_size`) and `set_batch_size` is called.
struct AdaptiveBatchOptions {
  bool enabled = false;
  int64_t initial_batch_size = 1;
  int64_t max_batch_size = 1;
  int64_t growth = 2;
  int64_t window = 50;
  double snr_threshold = 1.0;
  std::function<void(int64_t batch_size)> set_batch_size;
};

struct TrainerOptions {
  // Step budget, counted from the run's start (a resumed run continues up to it).
  int64_t max_steps = 1000;
  // Learning-rate factor per step (empty: constant).
  optim::Schedule schedule;
  // The parameters to optimise (empty: the active parameter store).
  ParameterSource parameters;
  // NaN guard: after this many consecutive non-finite steps, NonFiniteTrainingError.
  int64_t max_consecutive_nonfinite = 20;
  ConvergenceOptions convergence;
  AdaptiveBatchOptions adaptive_batch;
  ProgressMode progress = ProgressMode::kAuto;
  // Where progress and warnings go (null: std::cerr).
  std::ostream* progress_stream = nullptr;
  // Lines mode: a line every this many steps (0: max_steps / 10).
  int64_t log_every = 0;
  // Called after every step with its 1-based number and ELBO estimate (NaN or Inf when the
  // step was skipped for a non-finite loss).
  std::function<void(int64_t step, double elbo)> on_step;
  // Checkpoint file ("" : none), written every `checkpoint_every` steps (0: only at the end)
  // and at the end of run(), never after a skipped step.
  std::string checkpoint_path;
  int64_t checkpoint_every = 0;
  // State of the objective outside the parameters that resumption needs (for example an
  // ELBO's score-function baselines or a data sampler's position): saved with every
  // checkpoint and handed back by resume(), after the priming evaluation.
  std::function<std::map<std::string, Tensor>()> save_extra_state;
  std::function<void(const std::map<std::string, Tensor>&)> load_extra_state;
};

struct TrainResult {
  int64_t steps = 0;          // steps done in all, counted from the run's start
  int64_t skipped_steps = 0;  // non-finite steps skipped, in all
  bool converged = false;
  std::string stop_reason;  // "step budget", "converged (mean)", "converged (median)"
  double last_elbo = 0.0;
  double seconds = 0.0;    // wall time of this run() call
  int64_t batch_size = 0;  // the adaptive batch size at the end (0 when not adaptive)
};

class Trainer {
 public:
  Trainer(LossFn loss, std::shared_ptr<optim::Optimizer> optimizer, at::Generator generator,
          TrainerOptions options = {});
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Steps until max_steps (from the run's start) or convergence; writes the final checkpoint.
  TrainResult run();
  // One step; returns false when the step was skipped as non-finite (and throws
  // NonFiniteTrainingError after max_consecutive_nonfinite in a row).
  bool step();

  // Writes parameters, optimiser state, generator state and loop state to `path`.
  void save_checkpoint(const std::string& path) const;
  // Restores a checkpoint into this (fresh) trainer. If some of the checkpoint's parameters do
  // not exist yet, the loss closure is evaluated once to create them and the generator is then
  // reset to the checkpoint's state, so the draw sequence continues unchanged.
  void resume(const std::string& path);

  int64_t steps_done() const { return step_; }
  int64_t skipped_steps() const { return skipped_; }
  int64_t consecutive_nonfinite() const { return consecutive_nonfinite_; }
  // Why the last skipped step was skipped: "loss" or "gradient of 'NAME'".
  const std::string& last_skip_reason() const { return last_skip_reason_; }
  double last_elbo() const { return last_elbo_; }
  int64_t batch_size() const { return batch_size_; }
  // The SNR estimate of the last completed adaptive-batch window (NaN before the first).
  double last_snr() const { return last_snr_; }
  optim::Optimizer& optimizer() { return *optimizer_; }
  at::Generator& generator() { return generator_; }
  const TrainerOptions& options() const { return options_; }

 private:
  std::map<std::string, Tensor> current_parameters() const;
  void zero_grads(const std::map<std::string, Tensor>& params) const;
  // Name of the first parameter whose gradient is non-finite, or "".
  std::string nonfinite_gradient(const std::map<std::string, Tensor>& params) const;
  void observe_gradients(const std::map<std::string, Tensor>& params);
  void report_progress(bool final);
  void log_line(const std::string& line);

  LossFn loss_;
  std::shared_ptr<optim::Optimizer> optimizer_;
  at::Generator generator_;
  TrainerOptions options_;
  RelativeChangeRule convergence_;

  int64_t step_ = 0;
  int64_t skipped_ = 0;
  int64_t consecutive_nonfinite_ = 0;
  std::string last_skip_reason_;
  double last_elbo_ = 0.0;
  bool converged_ = false;

  // Adaptive batch size.
  int64_t batch_size_ = 0;
  int64_t snr_count_ = 0;
  double snr_diff_sq_ = 0.0;
  std::map<std::string, Tensor> snr_sum_;
  std::map<std::string, Tensor> snr_previous_;
  double last_snr_ = 0.0;

  // Progress.
  bool bar_ = false;
  std::chrono::steady_clock::time_point run_start_;
  std::chrono::steady_clock::time_point last_report_;
  int64_t run_start_step_ = 0;
};

}  // namespace amortize::infer
