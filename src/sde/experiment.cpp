#include "amortize/sde/experiment.hpp"

#include "amortize/infer/optim/optimizer.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace amortize::sde {
namespace fs = std::filesystem;

TimeSeries read_time_series_csv(const std::string& path, const at::TensorOptions& options) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument("cannot open the time series file " + path);
  std::string line;
  if (!std::getline(in, line)) throw std::invalid_argument(path + ": empty file (expected a header t,x1,...)");
  std::vector<double> t, x;
  int64_t cols = -1, line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::stringstream ss(line);
    std::string cell;
    std::vector<double> row;
    while (std::getline(ss, cell, ',')) {
      size_t used = 0;
      double v = 0;
      try {
        v = std::stod(cell, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || !std::isfinite(v))
        throw std::invalid_argument(path + ":" + std::to_string(line_no) + ": '" + cell + "' is not a finite number");
      row.push_back(v);
    }
    if (row.size() < 2) throw std::invalid_argument(path + ":" + std::to_string(line_no) + ": expected t and at least one value");
    if (cols < 0) cols = static_cast<int64_t>(row.size());
    if (static_cast<int64_t>(row.size()) != cols)
      throw std::invalid_argument(path + ":" + std::to_string(line_no) + ": " + std::to_string(row.size()) +
                                  " columns, expected " + std::to_string(cols));
    if (!t.empty() && !(row[0] > t.back()))
      throw std::invalid_argument(path + ":" + std::to_string(line_no) + ": times must increase");
    t.push_back(row[0]);
    x.insert(x.end(), row.begin() + 1, row.end());
  }
  if (t.empty()) throw std::invalid_argument(path + ": no data rows");
  const auto n = static_cast<int64_t>(t.size());
  return {at::tensor(t, at::kDouble).to(options), at::tensor(x, at::kDouble).view({n, cols - 1}).to(options)};
}

ArctaExperimentSettings predprey_settings() {
  ArctaExperimentSettings s;
  s.train_path = "../shared/data/sde/predprey_train.csv";
  s.valid_path = "../shared/data/sde/predprey_valid.csv";
  auto& o = s.model;
  o.encoder_hidden = {32, 32};
  o.encoder_activation = Activation::kRelu;
  o.encoder_skip = true;
  o.identity_decoder = true;
  o.likelihood = Likelihood::kGaussianFixed;
  o.observation_variance = 1e-4;
  o.drift_hidden = {64, 64, 64};
  o.drift_activation = Activation::kRelu;
  o.kernel.warp_hidden = {32, 32};
  o.kernel.warp_activation = Activation::kRelu;
  o.kernel.lengthscale = 1e-2;
  o.kernel.jitter = 1e-3;
  s.mc = {1, 10};
  s.chunk_size = 256;
  s.steps = 4000;
  s.lr = 1e-3;
  s.warmup_steps = 1000;
  return s;
}

namespace {
TimeSeriesDataset check_and_wrap(const ArctaExperimentSettings& s, TimeSeries train) {
  if (s.chunk_size < 2) throw std::invalid_argument("sde experiment: the chunk size B must be at least 2");
  if (s.mc.samples < 1 || s.mc.strata < 1) throw std::invalid_argument("sde experiment: R and S must be positive");
  if (s.steps < 0) throw std::invalid_argument("sde experiment: steps must not be negative");
  if (!(s.lr > 0) || !(s.lr_decay > 0) || !(s.lr_decay <= 1))
    throw std::invalid_argument("sde experiment: need lr > 0 and 0 < lr_decay <= 1");
  if (!(s.averaging >= 0 && s.averaging < 1)) throw std::invalid_argument("sde experiment: averaging must lie in [0, 1)");
  if (s.averaging_start < 0) throw std::invalid_argument("sde experiment: averaging_start must not be negative");
  if (s.valid_paths < 1 || !(s.valid_dt > 0)) throw std::invalid_argument("sde experiment: valid_paths and valid_dt must be positive");
  if (train.t.size(0) < s.model.window + 1)
    throw std::invalid_argument("sde experiment: the training series is shorter than a window");
  return TimeSeriesDataset({std::move(train)}, s.model.window);
}
}  // namespace

std::pair<TimeSeries, TimeSeries> load_train_valid(const ArctaExperimentSettings& s) {
  const auto opts = at::TensorOptions().dtype(s.dtype);
  const auto& syn = s.synthetic;
  if (syn.name.empty()) return {read_time_series_csv(s.train_path, opts), read_time_series_csv(s.valid_path, opts)};
  const std::string where = "synthetic data '" + syn.name + "': ";
  if (syn.duration < 0 || syn.rate < 0 || syn.train_until < 0)
    throw std::invalid_argument(where + "duration, rate and train_until must not be negative");
  TimeSeries all;
  if (syn.name == "lorenz") {
    LorenzSeriesOptions o;
    if (syn.duration > 0) o.duration = syn.duration;
    if (syn.rate > 0) o.dt = 1.0 / syn.rate;
    o.noise_sd = syn.noise_sd;
    o.seed = s.seed + 7;
    all = lorenz_series(o, opts);
  } else if (syn.name == "pendulum") {
    PendulumVideoOptions o;
    if (syn.duration > 0) o.duration = syn.duration;
    if (syn.rate > 0) o.frames_per_second = syn.rate;
    o.frame_size = syn.frame_size;
    if (syn.gravity < 0) throw std::invalid_argument(where + "gravity must not be negative");
    if (syn.gravity > 0) o.gravity = syn.gravity;
    all = pendulum_video(o, opts);
  } else {
    throw std::invalid_argument("synthetic data: expected lorenz or pendulum, got '" + syn.name + "'");
  }
  const int64_t n = all.t.size(0);
  const double t_last = all.t[n - 1].item<double>();
  const double until = syn.train_until > 0 ? syn.train_until : 0.8 * t_last;
  const int64_t n_train = (all.t.to(at::kDouble) < until).sum().item<int64_t>();
  if (n_train < 2 || n_train >= n)
    throw std::invalid_argument(where + "train_until = " + std::to_string(until) + " leaves no training or no validation data");
  return {{all.t.narrow(0, 0, n_train), all.x.narrow(0, 0, n_train)},
          {all.t.narrow(0, n_train, n - n_train), all.x.narrow(0, n_train, n - n_train)}};
}

ArctaExperiment::ArctaExperiment(const ArctaExperimentSettings& settings)
    : ArctaExperiment(settings, load_train_valid(settings)) {}

ArctaExperiment::ArctaExperiment(const ArctaExperimentSettings& settings, std::pair<TimeSeries, TimeSeries> train_valid)
    : ArctaExperiment(settings, std::move(train_valid.first), std::move(train_valid.second)) {}

ArctaExperiment::ArctaExperiment(const ArctaExperimentSettings& settings, TimeSeries train, TimeSeries valid)
    : settings_(settings), valid_(std::move(valid)), data_(check_and_wrap(settings, std::move(train))) {
  if (valid_.x.dim() != 2 || valid_.x.size(1) != data_.trajectory(0).x.size(1))
    throw std::invalid_argument("sde experiment: the validation series has another number of columns than the training one");
  build();
}

void ArctaExperiment::build() {
  const auto& train = data_.trajectory(0);
  const int64_t n = train.t.size(0);
  const double span = (train.t[n - 1].item<double>() - train.t[0].item<double>());
  const double dt = span / static_cast<double>(n - 1);
  auto& o = settings_.model;
  o.observation_dim = train.x.size(1);
  if (o.identity_decoder || o.encoder_skip) o.latent_dim = o.observation_dim;
  // u in [-1, 1] over a chunk of B windows.
  o.kernel.time_scale = 0.5 * static_cast<double>(std::min(settings_.chunk_size, data_.total_windows()) - 1) * dt;
  torch::manual_seed(settings_.seed);
  model_ = ArctaModel(o, at::TensorOptions().dtype(settings_.dtype));
  sampler_ = std::make_unique<ChunkSampler>(data_, settings_.chunk_size, settings_.seed + 1);
  // The model's parameter tensors never change identity (updates are in place): name them once.
  for (const auto& item : model_->named_parameters())
    if (settings_.learn_diffusion || item.key().rfind("diffusion_", 0) != 0) parameters_[item.key()] = item.value();
    else item.value().requires_grad_(false);
  if (settings_.averaging > 0) {
    at::NoGradGuard ng;
    for (const auto& [name, p] : parameters()) average_[name] = p.detach().clone();
  }
}

Tensor ArctaExperiment::loss(int64_t step, at::Generator gen) {
  const double beta =
      settings_.warmup_steps > 0 ? std::min(1.0, static_cast<double>(step + 1) / static_cast<double>(settings_.warmup_steps)) : 1.0;
  const auto terms = arcta_elbo(model_, data_, sampler_->next(), sampler_->num_chunks(), settings_.mc, beta, gen, &nfe_);
  return terms.elbo.mul(infer::optim::scalar_like(-1.0 / static_cast<double>(data_.total_windows()), terms.elbo));
}

std::map<std::string, Tensor> ArctaExperiment::parameters() const { return parameters_; }

void ArctaExperiment::update_average() {
  if (average_.empty()) return;
  at::NoGradGuard ng;
  const int64_t n = ++average_updates_ - settings_.averaging_start;  // steps averaged so far
  const double keep = n <= 0 ? 0.0 : std::min(settings_.averaging, static_cast<double>(n) / static_cast<double>(n + 1));
  for (const auto& [name, p] : parameters_) {
    if (keep == 0.0) average_.at(name).copy_(p.detach());
    else average_.at(name).lerp_(p.detach(), 1.0 - keep);
  }
}

std::map<std::string, Tensor> ArctaExperiment::state() const {
  std::map<std::string, Tensor> out;
  for (const auto& [name, a] : average_) out["average." + name] = a.detach().clone();
  out["average_updates"] = at::tensor(average_updates_, at::kLong);
  out["nfe"] = at::tensor(nfe_.count(), at::kLong);
  const std::string bytes = sampler_->state();
  out["sampler"] = at::tensor(std::vector<uint8_t>(bytes.begin(), bytes.end()), at::kByte);
  return out;
}

void ArctaExperiment::set_state(const std::map<std::string, Tensor>& state) {
  const auto get = [&](const std::string& key) -> const Tensor& {
    const auto it = state.find(key);
    if (it == state.end()) throw std::invalid_argument("sde experiment state: missing '" + key + "'");
    return it->second;
  };
  at::NoGradGuard ng;
  for (auto& [name, a] : average_) {
    const Tensor& v = get("average." + name);
    if (v.sizes() != a.sizes()) throw std::invalid_argument("sde experiment state: 'average." + name + "' has another shape");
    a.copy_(v);
  }
  average_updates_ = get("average_updates").item<int64_t>();
  nfe_.reset();
  nfe_.add(get("nfe").item<int64_t>());
  const Tensor bytes = get("sampler").to(at::kByte).contiguous();
  sampler_->set_state(std::string(reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()), static_cast<size_t>(bytes.numel())));
}

void ArctaExperiment::use_average() {
  if (average_.empty()) return;
  at::NoGradGuard ng;
  for (auto& [name, p] : parameters()) p.copy_(average_.at(name));
}

ValidationResult ArctaExperiment::validate(int64_t paths, at::Generator gen, const std::vector<double>& times) {
  at::NoGradGuard ng;
  ValidationResult out;
  const int64_t nv = valid_.t.size(0);
  if (times.empty()) {
    const Tensor tv = valid_.t.to(at::kDouble).contiguous();
    out.times.assign(tv.data_ptr<double>(), tv.data_ptr<double>() + nv);
  } else {
    out.times = times;
  }
  const auto opts = valid_.x.options();
  const int64_t d = settings_.model.latent_dim;
  Tensor z0;
  if (settings_.model.identity_decoder) {
    z0 = valid_.x[0];
  } else {
    const int64_t m = settings_.model.window;
    if (nv < m) throw std::invalid_argument("sde validate: the validation series is shorter than a window");
    z0 = model_->encode(valid_.x.narrow(0, 0, m).reshape({1, -1})).narrow(1, 0, d)[0];
  }
  z0 = z0.unsqueeze(0).expand({paths, d}) + settings_.valid_start_noise * at::randn({paths, d}, gen, opts);
  DiagonalSde sde{model_->drift_fn(), constant_diffusion(model_->diffusion_loc().exp().sqrt())};
  SdeSolveOptions so;
  so.method = settings_.valid_method;
  so.dt = settings_.valid_dt;
  Forecast f = forecast(sde, z0.contiguous(), out.times, paths, so, gen);
  if (!settings_.model.identity_decoder) {
    f.paths = model_->decode_mean(f.paths);
    f.mean = f.paths.mean(1);
    f.lower = at::quantile(f.paths, 0.05, 1, false, "linear");
    f.upper = at::quantile(f.paths, 0.95, 1, false, "linear");
  }
  out.forecast = f;
  if (times.empty())
    out.rmse = (f.mean - valid_.x).square().mean().sqrt().item<double>();
  else
    out.rmse = std::numeric_limits<double>::quiet_NaN();
  return out;
}


std::string plot_forecast_png(const std::vector<double>& times, const Tensor& truth, const Forecast& forecast,
                              const std::string& png, const std::string& title) {
  try {
    const fs::path out(png);
    const fs::path dir = out.parent_path().empty() ? fs::path(".") : out.parent_path();
    const fs::path data = dir / ("." + out.filename().string() + ".data.tmp");
    const fs::path script = dir / ("." + out.filename().string() + ".gp.tmp");
    const fs::path tmp_png = dir / ("." + out.filename().string() + ".tmp");
    const Tensor mean = forecast.mean.to(at::kDouble).contiguous(), lo = forecast.lower.to(at::kDouble).contiguous(),
                 hi = forecast.upper.to(at::kDouble).contiguous();
    const Tensor tr = truth.defined() ? truth.to(at::kDouble).contiguous() : Tensor();
    const int64_t d = mean.size(1);
    const auto cleanup = [&] {
      std::error_code ec;
      fs::remove(data, ec);
      fs::remove(script, ec);
      fs::remove(tmp_png, ec);
    };
    {
      std::ofstream o(data);
      o.precision(9);
      for (size_t i = 0; i < times.size(); ++i) {
        const auto k = static_cast<int64_t>(i);
        o << times[i];
        for (int64_t j = 0; j < d; ++j) {
          o << ',' << mean[k][j].item<double>() << ',' << lo[k][j].item<double>() << ',' << hi[k][j].item<double>() << ',';
          if (tr.defined() && k < tr.size(0)) o << tr[k][j].item<double>(); else o << "NaN";
        }
        o << '\n';
      }
      if (!o) { cleanup(); return "cannot write the plot's data in " + dir.string(); }
    }
    const char* colours[] = {"#08519c", "#a50f15", "#006d2c", "#54278f", "#8c510a"};
    {
      std::ofstream o(script);
      o << "set terminal pngcairo size 1000,560 enhanced font 'DejaVu Sans,11'\n"
        << "set output '" << tmp_png.string() << "'\nset datafile separator ','\nset datafile missing 'NaN'\n"
        << "set title '" << title << "' noenhanced\nset xlabel 't'\nset ylabel 'x'\n"
        << "set grid lc rgb '#dddddd'\nset key outside right\nset style fill transparent solid 0.2 noborder\nplot ";
      for (int64_t j = 0; j < d; ++j) {
        const int64_t c = 2 + 4 * j;
        const char* col = colours[j % 5];
        if (j) o << ", \\\n     ";
        o << "'" << data.string() << "' using 1:" << c + 1 << ":" << c + 2 << " with filledcurves lc rgb '" << col
          << "' title 'x" << j + 1 << " 5-95%', '' using 1:" << c << " with lines lw 2 lc rgb '" << col
          << "' title 'x" << j + 1 << " mean forecast', '' using 1:" << c + 3 << " with points pt 7 ps 0.4 lc rgb '" << col
          << "' title 'x" << j + 1 << " observed'";
      }
      o << "\n";
      if (!o) { cleanup(); return "cannot write the gnuplot script in " + dir.string(); }
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    std::string program = "gnuplot", arg = script.string();
    char* argv[] = {program.data(), arg.data(), nullptr};
    pid_t pid = 0;
    const int rc = posix_spawnp(&pid, program.c_str(), &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) { cleanup(); return "cannot run gnuplot (" + std::string(std::strerror(rc)) + ")"; }
    int status = 0;
    waitpid(pid, &status, 0);
    std::error_code ec;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !fs::exists(tmp_png, ec)) { cleanup(); return "gnuplot failed"; }
    fs::rename(tmp_png, out, ec);
    cleanup();
    return ec ? "cannot rename the plot into " + png : "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

}  // namespace amortize::sde
