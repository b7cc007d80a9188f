// An ARCTA experiment end to end, shared by `amortize sde`, the benchmarks and the tests: the
// settings (read from TOML by the CLI), time series from CSV files, the model built from the
// settings, the training objective as a closure for the shared Trainer (KL warm-up from the
// step index, drift evaluations counted), iterate averaging of the parameters, and the
// validation forecast (the mean of N sample paths from the first validation observation, as
// the authors validate) with its RMSE.
#pragma once
#include "amortize/io/process_memory.hpp"
#include "amortize/sde/arcta.hpp"
#include "amortize/sde/solvers.hpp"
#include "amortize/sde/synthetic_series.hpp"

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace amortize::sde {

// A CSV file with a header, the time in the first column and one observation per row
// (`t,x1,x2,...`). Throws std::invalid_argument naming the file and line of a bad row.
TimeSeries read_time_series_csv(const std::string& path, const at::TensorOptions& options);

// A made data set in place of the CSV files: one series over [0, duration], trained on
// t < train_until and validated on the rest.
struct SyntheticDataSettings {
  std::string name;           // "" (read the CSV files), "lorenz" or "pendulum"
  double duration = 0;        // 0: 10 (lorenz) or 30 (pendulum)
  double train_until = 0;     // 0: 80 % of the duration
  double rate = 0;            // observations per time unit; 0: 200 (lorenz) or 15 (pendulum)
  int64_t frame_size = 32;    // pendulum frames' side
  double noise_sd = 1.0;      // lorenz observation noise
  double gravity = 0;         // pendulum g / L; 0: 9.81 (the authors' generator uses 1)
};

struct ArctaExperimentSettings {
  std::string train_path, valid_path;
  SyntheticDataSettings synthetic;
  at::ScalarType dtype = at::kFloat;
  ArctaModelOptions model;  // latent_dim / observation_dim / window / kernel.time_scale set from data
  ArctaSettings mc;         // R, S
  int64_t chunk_size = 256;     // B
  int64_t steps = 4000;
  double lr = 1e-3;
  double lr_decay = 1.0;        // the learning rate falls exponentially by this factor over lr_decay_steps
  int64_t lr_decay_steps = 0;   // the decay's horizon (0: `steps`); past it the rate stays
  int64_t warmup_steps = 1000;  // KL warm-up: beta = min(1, (step + 1) / warmup_steps)
  // Iterate averaging (0: off) of the parameters used for forecasting: before step
  // `averaging_start` the average follows the iterate; from there on it is the uniform
  // (Polyak-Ruppert) average of the iterates since that step until its weight on the old
  // average, n / (n + 1) after n steps, reaches `averaging`; then an EMA with that weight.
  double averaging = 0.0;
  int64_t averaging_start = 0;
  // false: c stays at its initial q(c) (not trained); a fixed small c makes the latent path
  // follow the drift, where a learned c can grow to absorb a drift that does not fit.
  bool learn_diffusion = true;
  uint64_t seed = 0;
  int64_t valid_paths = 128;
  double valid_dt = 1e-2;       // the forecast's fixed step
  // The forecast's scheme. Heun by default: Euler-Maruyama's first-order drift error at
  // dt = 0.01 moves the predator-prey RMSE by up to 0.05 (the true model's: 0.0121 against
  // 0.0107 converged), so an Euler check ranks models by how they offset the solver's error.
  SdeMethod valid_method = SdeMethod::kHeun;
  double valid_start_noise = 1e-3;
};

// Experiment 1 of the paper (predator-prey), the authors' settings: B = 256, M = 1, R = 1,
// S = 10, encoder [32, 32] ReLU with a skip, identity decoder with observation sd 0.01, drift
// [64, 64, 64] ReLU, kernel warp [32, 32] ReLU, Adam 1e-3, KL warm-up 1000 steps.
ArctaExperimentSettings predprey_settings();

// The training and validation series the settings name (the CSV files or a synthetic set).
// Throws std::invalid_argument naming the file or the synthetic setting at fault.
std::pair<TimeSeries, TimeSeries> load_train_valid(const ArctaExperimentSettings& settings);

struct ValidationResult {
  double rmse = 0.0;
  Forecast forecast;         // in observation space
  std::vector<double> times;
};

class ArctaExperiment {
 public:
  // Reads the data and builds the model (parameters drawn from `settings.seed`).
  explicit ArctaExperiment(const ArctaExperimentSettings& settings);
  ArctaExperiment(const ArctaExperimentSettings& settings, std::pair<TimeSeries, TimeSeries> train_valid);
  ArctaExperiment(const ArctaExperimentSettings& settings, TimeSeries train, TimeSeries valid);

  const ArctaExperimentSettings& settings() const { return settings_; }
  ArctaModel& model() { return model_; }
  const TimeSeriesDataset& data() const { return data_; }
  const TimeSeries& valid() const { return valid_; }
  NfeCounter& nfe() { return nfe_; }

  // -ELBO / N of the next chunk at a step (beta from the warm-up), drawing from `gen`.
  Tensor loss(int64_t step, at::Generator gen);
  // The parameters by name (for the shared optimisers and checkpoints).
  std::map<std::string, Tensor> parameters() const;
  // Folds the current parameters into the running average after a step (no-op when
  // averaging is off); the steps are counted here, so call it once after every step.
  void update_average();
  // Copies the averaged parameters into the model (no-op when averaging is off).
  void use_average();
  // The averaged parameters by name (empty when averaging is off).
  const std::map<std::string, Tensor>& average() const { return average_; }
  void set_average(const std::map<std::string, Tensor>& average) { average_ = average; }

  // Everything besides the parameters that a resumed run needs to continue exactly: the
  // average and its step count, the chunk sampler's order and generator, the NFE count.
  std::map<std::string, Tensor> state() const;
  // Restores state(); throws std::invalid_argument naming a missing or mismatched entry.
  void set_state(const std::map<std::string, Tensor>& state);

  // Forecasts `paths` sample paths over the validation times (or `times` if given) from the
  // first validation observation and returns the RMSE of their mean (NaN if times differ).
  ValidationResult validate(int64_t paths, at::Generator gen, const std::vector<double>& times = {});

 private:
  void build();
  ArctaExperimentSettings settings_;
  TimeSeries valid_;
  TimeSeriesDataset data_;
  std::unique_ptr<ChunkSampler> sampler_;
  ArctaModel model_{nullptr};
  NfeCounter nfe_;
  std::map<std::string, Tensor> parameters_;
  std::map<std::string, Tensor> average_;
  int64_t average_updates_ = 0;
};


// Draws true observations against the forecast's mean and quantile band into `png` with
// gnuplot (data and script under temporary names, the image renamed into place). Returns ""
// on success, else why the plot was not drawn (never throws).
std::string plot_forecast_png(const std::vector<double>& times, const Tensor& truth, const Forecast& forecast,
                              const std::string& png, const std::string& title);

}  // namespace amortize::sde
