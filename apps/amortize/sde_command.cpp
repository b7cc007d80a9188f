// `amortize sde fit --config FILE.toml --out DIR` fits a latent SDE by amortized
// reparametrization (ARCTA) through the shared trainer (KL warm-up by the step index,
// exponential learning-rate decay, optional iterate averaging, checkpoints) and writes
// metrics.json, forecast.csv and forecast.png (the validation span), plus model.pt and
// settings.json for `amortize sde forecast --from DIR --horizon T --paths N`, which forecasts
// N paths from the first validation observation over [t0, t0 + T]. `amortize sde fit --resume
// DIR [--steps N]` continues a run from its checkpoint and ends where one uninterrupted run ends.
#include "amortize/infer/optim/adam.hpp"
#include "amortize/infer/trainer.hpp"
#include "amortize/io/config.hpp"
#include "amortize/io/output_folder.hpp"
#include "amortize/sde/experiment.hpp"
#include "amortize/vae/image_grid.hpp"
#include "commands.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>
#include <torch/serialize.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace amortize::cli {
namespace {
namespace fs = std::filesystem;
using sde::Activation;

struct SdeFitArgs {
  std::string config, out, resume;
  int64_t steps = -1;
  int64_t seed = -1;
};

struct SdeForecastArgs {
  std::string from;
  double horizon = 0;  // 0: the validation span
  int64_t paths = 128;
  double dt = 0;       // 0: the fitted run's valid_dt
  int64_t seed = 1;
};

// Every key of the TOML file (a flat table).
const io::ConfigSchema& schema() {
  using T = io::ConfigType;
  static const io::ConfigSchema s = {
      {"train", T::String},           {"valid", T::String},          {"out", T::String},
      {"dtype", T::String},           {"steps", T::Integer},         {"lr", T::Real},
      {"lr_decay", T::Real},          {"warmup", T::Integer},        {"averaging", T::Real},
      {"seed", T::Integer},           {"B", T::Integer},             {"M", T::Integer},
      {"R", T::Integer},              {"S", T::Integer},             {"latent_dim", T::Integer},
      {"encoder_hidden", T::String},  {"encoder_activation", T::String}, {"encoder_skip", T::Integer},
      {"decoder", T::String},         {"decoder_hidden", T::String}, {"decoder_activation", T::String},
      {"likelihood", T::String},      {"observation_sd", T::Real},   {"drift_hidden", T::String},
      {"drift_activation", T::String}, {"kernel_hidden", T::String}, {"kernel_activation", T::String},
      {"kernel_lengthscale", T::Real}, {"kernel_jitter", T::Real},   {"valid_paths", T::Integer},
      {"valid_dt", T::Real},          {"valid_every", T::Integer},   {"checkpoint_every", T::Integer},
      {"lr_decay_steps", T::Integer}, {"averaging_start", T::Integer}, {"encoder", T::String},
      {"encoder_channels", T::String}, {"frame_height", T::Integer}, {"synthetic", T::String},
      {"synthetic_duration", T::Real}, {"synthetic_train_until", T::Real}, {"synthetic_rate", T::Real},
      {"synthetic_frame_size", T::Integer}, {"synthetic_noise_sd", T::Real}, {"diffusion_init_log", T::Real},
      {"diffusion_prior_log_loc", T::Real}, {"diffusion_prior_log_sd", T::Real}, {"diffusion_init_log_sd", T::Real},
      {"synthetic_gravity", T::Real}, {"diffusion_learned", T::Integer}, {"valid_method", T::String}};
  return s;
}

std::vector<int64_t> parse_sizes(const std::string& text, const std::string& key) {
  std::vector<int64_t> out;
  std::stringstream ss(text);
  std::string cell;
  while (std::getline(ss, cell, ',')) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(cell, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    while (used < cell.size() && cell[used] == ' ') ++used;
    if (used == 0 || used != cell.size() || v < 1)
      throw std::invalid_argument(key + ": expected positive layer sizes separated by commas, got '" + text + "'");
    out.push_back(v);
  }
  return out;
}

std::string sizes_text(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

std::string activation_name(Activation a) {
  switch (a) {
    case Activation::kTanh: return "tanh";
    case Activation::kRelu: return "relu";
    case Activation::kSoftplus: return "softplus";
    case Activation::kSilu: return "silu";
  }
  return "tanh";
}

sde::Likelihood likelihood_from_name(const std::string& name) {
  if (name == "gaussian") return sde::Likelihood::kGaussianFixed;
  if (name == "gaussian_learned") return sde::Likelihood::kGaussianLearned;
  if (name == "bernoulli") return sde::Likelihood::kBernoulli;
  throw std::invalid_argument("likelihood: expected gaussian, gaussian_learned or bernoulli, got '" + name + "'");
}

std::string likelihood_name(sde::Likelihood l) {
  switch (l) {
    case sde::Likelihood::kGaussianFixed: return "gaussian";
    case sde::Likelihood::kGaussianLearned: return "gaussian_learned";
    case sde::Likelihood::kBernoulli: return "bernoulli";
  }
  return "gaussian";
}

sde::SdeMethod sde_method_from_name(const std::string& name) {
  if (name == "heun") return sde::SdeMethod::kHeun;
  if (name == "euler") return sde::SdeMethod::kEulerMaruyama;
  if (name == "srk") return sde::SdeMethod::kStochasticRungeKutta;
  throw std::invalid_argument("valid_method: expected heun, euler or srk, got '" + name + "'");
}

std::string sde_method_name(sde::SdeMethod m) {
  switch (m) {
    case sde::SdeMethod::kHeun: return "heun";
    case sde::SdeMethod::kEulerMaruyama: return "euler";
    case sde::SdeMethod::kStochasticRungeKutta: return "srk";
  }
  return "heun";
}

// Applies one key to the settings (the TOML file and settings.json share the keys).
void apply(sde::ArctaExperimentSettings& s, const std::string& key, const io::ConfigValue& v) {
  auto str = [&] { return std::get<std::string>(v); };
  auto integer = [&] { return std::get<int64_t>(v); };
  auto real = [&] { return std::holds_alternative<int64_t>(v) ? static_cast<double>(std::get<int64_t>(v)) : std::get<double>(v); };
  auto positive = [&](int64_t n) {
    if (n < 1) throw std::invalid_argument(key + " must be positive, got " + std::to_string(n));
    return n;
  };
  auto& m = s.model;
  if (key == "train") s.train_path = str();
  else if (key == "valid") s.valid_path = str();
  else if (key == "dtype") {
    if (str() == "float32") s.dtype = at::kFloat;
    else if (str() == "float64") s.dtype = at::kDouble;
    else throw std::invalid_argument("dtype: expected float32 or float64, got '" + str() + "'");
  } else if (key == "steps") {
    s.steps = integer();
    if (s.steps < 0) throw std::invalid_argument("steps must not be negative");
  } else if (key == "lr") s.lr = real();
  else if (key == "lr_decay") s.lr_decay = real();
  else if (key == "lr_decay_steps") {
    s.lr_decay_steps = integer();
    if (s.lr_decay_steps < 0) throw std::invalid_argument("lr_decay_steps must not be negative");
  } else if (key == "averaging_start") {
    s.averaging_start = integer();
    if (s.averaging_start < 0) throw std::invalid_argument("averaging_start must not be negative");
  }
  else if (key == "warmup") {
    s.warmup_steps = integer();
    if (s.warmup_steps < 0) throw std::invalid_argument("warmup must not be negative");
  } else if (key == "averaging") s.averaging = real();
  else if (key == "seed") {
    if (integer() < 0) throw std::invalid_argument("seed must not be negative");
    s.seed = static_cast<uint64_t>(integer());
  } else if (key == "B") s.chunk_size = positive(integer());
  else if (key == "M") m.window = positive(integer());
  else if (key == "R") s.mc.samples = positive(integer());
  else if (key == "S") s.mc.strata = positive(integer());
  else if (key == "latent_dim") m.latent_dim = positive(integer());
  else if (key == "encoder_hidden") m.encoder_hidden = parse_sizes(str(), key);
  else if (key == "encoder_activation") m.encoder_activation = sde::activation_from_name(str());
  else if (key == "encoder_skip") m.encoder_skip = integer() != 0;
  else if (key == "decoder") {
    if (str() != "identity" && str() != "mlp") throw std::invalid_argument("decoder: expected identity or mlp, got '" + str() + "'");
    m.identity_decoder = str() == "identity";
  } else if (key == "decoder_hidden") m.decoder_hidden = parse_sizes(str(), key);
  else if (key == "decoder_activation") m.decoder_activation = sde::activation_from_name(str());
  else if (key == "likelihood") m.likelihood = likelihood_from_name(str());
  else if (key == "observation_sd") {
    if (!(real() > 0)) throw std::invalid_argument("observation_sd must be positive");
    m.observation_variance = real() * real();
  } else if (key == "drift_hidden") m.drift_hidden = parse_sizes(str(), key);
  else if (key == "drift_activation") m.drift_activation = sde::activation_from_name(str());
  else if (key == "kernel_hidden") m.kernel.warp_hidden = parse_sizes(str(), key);
  else if (key == "kernel_activation") m.kernel.warp_activation = sde::activation_from_name(str());
  else if (key == "kernel_lengthscale") m.kernel.lengthscale = real();
  else if (key == "kernel_jitter") m.kernel.jitter = real();
  else if (key == "encoder") {
    if (str() != "mlp" && str() != "cnn") throw std::invalid_argument("encoder: expected mlp or cnn, got '" + str() + "'");
    m.conv_encoder = str() == "cnn";
  } else if (key == "encoder_channels") m.encoder_channels = parse_sizes(str(), key);
  else if (key == "frame_height") {
    m.frame_height = integer();
    if (m.frame_height < 0) throw std::invalid_argument("frame_height must not be negative");
  } else if (key == "synthetic") {
    if (!str().empty() && str() != "lorenz" && str() != "pendulum")
      throw std::invalid_argument("synthetic: expected lorenz or pendulum, got '" + str() + "'");
    s.synthetic.name = str();
  } else if (key == "synthetic_duration") s.synthetic.duration = real();
  else if (key == "synthetic_train_until") s.synthetic.train_until = real();
  else if (key == "synthetic_rate") s.synthetic.rate = real();
  else if (key == "synthetic_frame_size") s.synthetic.frame_size = positive(integer());
  else if (key == "synthetic_noise_sd") s.synthetic.noise_sd = real();
  else if (key == "diffusion_init_log") m.diffusion_init_loc = real();
  else if (key == "diffusion_prior_log_loc") m.diffusion_prior_loc = real();
  else if (key == "diffusion_prior_log_sd" || key == "diffusion_init_log_sd") {
    if (!(real() > 0)) throw std::invalid_argument(key + " must be positive");
    (key == "diffusion_prior_log_sd" ? m.diffusion_prior_scale : m.diffusion_init_scale) = real();
  } else if (key == "diffusion_learned") {
    s.learn_diffusion = integer() != 0;
  } else if (key == "synthetic_gravity") {
    if (!(real() >= 0)) throw std::invalid_argument("synthetic_gravity must not be negative");
    s.synthetic.gravity = real();
  }
  else if (key == "valid_method") s.valid_method = sde_method_from_name(str());
  else if (key == "valid_paths") s.valid_paths = positive(integer());
  else if (key == "valid_dt") s.valid_dt = real();
}

// CLI-only keys (not experiment settings).
struct RunKeys {
  int64_t valid_every = 0;  // validate every this many steps and keep the best model (0: only at the end)
  int64_t checkpoint_every = 1000;
};

// The settings as JSON (keys as in the TOML file; data paths absolute), the CLI-only keys
// under "run" (settings_from_json skips them).
nlohmann::json settings_json(const sde::ArctaExperimentSettings& s, const RunKeys& run) {
  const auto& m = s.model;
  const auto absolute = [](const std::string& p) { return p.empty() ? p : fs::absolute(p).string(); };
  return {{"train", absolute(s.train_path)},
          {"valid", absolute(s.valid_path)},
          {"dtype", s.dtype == at::kDouble ? "float64" : "float32"},
          {"steps", s.steps}, {"lr", s.lr}, {"lr_decay", s.lr_decay}, {"lr_decay_steps", s.lr_decay_steps},
          {"warmup", s.warmup_steps}, {"averaging", s.averaging}, {"averaging_start", s.averaging_start}, {"seed", static_cast<int64_t>(s.seed)}, {"B", s.chunk_size},
          {"M", m.window}, {"R", s.mc.samples}, {"S", s.mc.strata}, {"latent_dim", m.latent_dim},
          {"encoder_hidden", sizes_text(m.encoder_hidden)}, {"encoder_activation", activation_name(m.encoder_activation)},
          {"encoder_skip", m.encoder_skip ? 1 : 0}, {"decoder", m.identity_decoder ? "identity" : "mlp"},
          {"decoder_hidden", sizes_text(m.decoder_hidden)}, {"decoder_activation", activation_name(m.decoder_activation)},
          {"likelihood", likelihood_name(m.likelihood)}, {"observation_sd", std::sqrt(m.observation_variance)},
          {"drift_hidden", sizes_text(m.drift_hidden)}, {"drift_activation", activation_name(m.drift_activation)},
          {"kernel_hidden", sizes_text(m.kernel.warp_hidden)}, {"kernel_activation", activation_name(m.kernel.warp_activation)},
          {"kernel_lengthscale", m.kernel.lengthscale}, {"kernel_jitter", m.kernel.jitter},
          {"valid_paths", s.valid_paths}, {"valid_dt", s.valid_dt}, {"valid_method", sde_method_name(s.valid_method)},
          {"encoder", m.conv_encoder ? "cnn" : "mlp"}, {"encoder_channels", sizes_text(m.encoder_channels)},
          {"frame_height", m.frame_height}, {"synthetic", s.synthetic.name},
          {"synthetic_duration", s.synthetic.duration}, {"synthetic_train_until", s.synthetic.train_until},
          {"synthetic_rate", s.synthetic.rate}, {"synthetic_frame_size", s.synthetic.frame_size},
          {"synthetic_noise_sd", s.synthetic.noise_sd}, {"diffusion_init_log", m.diffusion_init_loc},
          {"diffusion_prior_log_loc", m.diffusion_prior_loc}, {"diffusion_prior_log_sd", m.diffusion_prior_scale},
          {"diffusion_init_log_sd", m.diffusion_init_scale}, {"synthetic_gravity", s.synthetic.gravity},
          {"diffusion_learned", s.learn_diffusion ? 1 : 0},
          {"run", {{"valid_every", run.valid_every}, {"checkpoint_every", run.checkpoint_every}}}};
}

sde::ArctaExperimentSettings settings_from_json(const nlohmann::json& j) {
  auto s = sde::predprey_settings();
  for (const auto& [key, value] : j.items()) {
    if (value.is_string()) apply(s, key, io::ConfigValue(value.get<std::string>()));
    else if (value.is_number_integer()) apply(s, key, io::ConfigValue(value.get<int64_t>()));
    else if (value.is_number()) apply(s, key, io::ConfigValue(value.get<double>()));
  }
  return s;
}

std::string forecast_csv(const std::vector<double>& times, const sde::Forecast& f, const at::Tensor& truth) {
  const at::Tensor mean = f.mean.to(at::kDouble).contiguous(), lo = f.lower.to(at::kDouble).contiguous(),
                   hi = f.upper.to(at::kDouble).contiguous();
  const int64_t d = mean.size(1);
  const at::Tensor tr = truth.defined() ? truth.to(at::kDouble).contiguous() : at::Tensor();
  std::ostringstream o;
  o.precision(9);
  o << "t";
  for (int64_t j = 1; j <= d; ++j) o << ",mean_x" << j << ",q05_x" << j << ",q95_x" << j << (tr.defined() ? ",true_x" + std::to_string(j) : "");
  o << "\n";
  const double* pm = mean.data_ptr<double>();
  const double* pl = lo.data_ptr<double>();
  const double* ph = hi.data_ptr<double>();
  for (size_t i = 0; i < times.size(); ++i) {
    o << times[i];
    const auto k = static_cast<int64_t>(i);
    for (int64_t j = 0; j < d; ++j) {
      o << ',' << pm[k * d + j] << ',' << pl[k * d + j] << ',' << ph[k * d + j];
      if (tr.defined()) {
        if (k < tr.size(0)) o << ',' << tr[k][j].item<double>(); else o << ",";
      }
    }
    o << "\n";
  }
  return o.str();
}

// The forecast as a PNG: for frames (a CNN encoder) the true frames above the forecast's mean
// frames, every other one of the first 30; else the series with the mean and 5-95 % band.
// Returns "" or why it was not drawn.
std::string draw_forecast(const sde::ArctaModelOptions& m, const std::vector<double>& times, const at::Tensor& truth,
                          const sde::Forecast& f, const std::string& png, const std::string& title) {
  if (!m.conv_encoder) return sde::plot_forecast_png(times, truth, f, png, title);
  try {
    const int64_t height = m.frame_height > 0 ? m.frame_height : std::llround(std::sqrt(static_cast<double>(m.observation_dim)));
    const int64_t shown = std::min<int64_t>(truth.size(0), 30);
    const at::Tensor index = at::arange(0, shown, 2, at::kLong);
    const at::Tensor grid = at::cat({truth.index_select(0, index), f.mean.index_select(0, index)}, 0);
    vae::write_png_grid(png, grid, index.size(0), height);
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

at::Generator generator(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

// Tensors <-> the CLI's own loop state in checkpoints.
at::Tensor doubles_tensor(const std::vector<double>& v) { return at::tensor(v, at::kDouble); }
std::vector<double> tensor_doubles(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kDouble).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

// `--resume DIR`: the settings and run keys of the run in DIR (its settings.json), which must
// also hold a checkpoint.
void load_resumed(const SdeFitArgs& a, sde::ArctaExperimentSettings& s, RunKeys& run, std::string& out) {
  const fs::path dir(a.resume);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw std::invalid_argument(a.resume + ": no such run folder to resume");
  if (!fs::exists(dir / "checkpoint.pt", ec))
    throw std::invalid_argument(a.resume + ": no checkpoint in the run folder (expected " + (dir / "checkpoint.pt").string() + ")");
  std::ifstream in(dir / "settings.json");
  if (!in) throw std::invalid_argument(a.resume + ": no settings.json in the run folder");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const std::exception&) {
    throw std::invalid_argument((dir / "settings.json").string() + ": not valid JSON");
  }
  s = settings_from_json(j);
  if (j.contains("run")) {
    run.valid_every = j["run"].value("valid_every", run.valid_every);
    run.checkpoint_every = j["run"].value("checkpoint_every", run.checkpoint_every);
  }
  if (!a.out.empty() && fs::weakly_canonical(a.out, ec) != fs::weakly_canonical(dir, ec))
    throw std::invalid_argument("--out must be left out or equal the --resume folder");
  out = a.resume;
}

int run_fit(const SdeFitArgs& a) {
  auto s = sde::predprey_settings();
  RunKeys run;
  std::string out = a.out;
  const bool resuming = !a.resume.empty();
  if (resuming == !a.config.empty()) throw std::invalid_argument("sde fit: give either --config FILE.toml or --resume DIR");
  if (resuming) {
    load_resumed(a, s, run, out);
  } else {
    const auto config = io::read_config(a.config, schema());
    for (const auto& [key, entry] : config) {
      if (key == "out") {
        if (out.empty()) out = std::get<std::string>(entry.value);
        continue;
      }
      try {
        if (key == "valid_every" || key == "checkpoint_every") {
          const int64_t v = std::get<int64_t>(entry.value);
          if (v < 0) throw std::invalid_argument(key + " must not be negative");
          (key == "valid_every" ? run.valid_every : run.checkpoint_every) = v;
          continue;
        }
        apply(s, key, entry.value);
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(a.config + ":" + std::to_string(entry.line) + ": " + e.what());
      }
    }
  }
  if (a.steps >= 0) s.steps = a.steps;
  if (a.seed >= 0) {
    if (resuming) throw std::invalid_argument("--seed cannot change when resuming (the run's seed is in its settings.json)");
    s.seed = static_cast<uint64_t>(a.seed);
  }
  if (out.empty()) throw std::invalid_argument("no output folder: give --out DIR or `out` in " + a.config);
  for (const auto* path : {&s.train_path, &s.valid_path}) {
    if (!s.synthetic.name.empty()) break;
    if (path->empty()) throw std::invalid_argument(a.config + ": `train` and `valid` (CSV files) or `synthetic` are required");
    if (!fs::exists(*path)) throw std::invalid_argument("data file not found: " + *path);
  }
  sde::ArctaExperiment exp(s);  // reads and checks the data, builds the model
  const fs::path dir(out);
  const bool created = resuming ? false : io::prepare_output_folder(dir);
  try {
    io::write_file_atomically(dir / "settings.json", settings_json(exp.settings(), run).dump(2) + "\n");
    auto adam = std::make_shared<infer::optim::Adam>(s.lr);
    infer::TrainerOptions opts;
    opts.max_steps = s.steps;
    // The decay's horizon: lr_decay_steps (the whole run when 0); past it the rate stays.
    const int64_t horizon = s.lr_decay_steps > 0 ? s.lr_decay_steps : s.steps;
    if (s.lr_decay < 1 && horizon > 0) {
      opts.schedule = [decay = infer::optim::exponential_decay_over(s.lr_decay, horizon), horizon](int64_t step) {
        return decay(std::min(step, horizon));
      };
    }
    opts.parameters = [&exp] { return exp.parameters(); };
    std::vector<double> elbo_trace;
    // Periodic validation (not counted in the training time): the best model seen is kept,
    // as the authors keep their best checkpoint by validation RMSE.
    auto vgen = generator(s.seed + 31);
    std::map<std::string, at::Tensor> best;
    double best_rmse = std::numeric_limits<double>::infinity(), validation_seconds = 0;
    int64_t best_step = 0;
    nlohmann::json history = nlohmann::json::array();
    opts.on_step = [&](int64_t step, double elbo) {
      elbo_trace.push_back(elbo);
      exp.update_average();
      if (run.valid_every > 0 && step % run.valid_every == 0) {
        const auto start = std::chrono::steady_clock::now();
        at::NoGradGuard ng;
        std::map<std::string, at::Tensor> current;
        for (const auto& [name, p] : exp.parameters()) current[name] = p.detach().clone();
        exp.use_average();
        const double rmse = exp.validate(s.valid_paths, vgen).rmse;
        history.push_back({step, rmse});
        if (rmse < best_rmse) {
          best_rmse = rmse;
          best_step = step;
          for (const auto& [name, p] : exp.parameters()) best[name] = p.detach().clone();
        }
        for (auto& [name, p] : exp.parameters()) p.copy_(current.at(name));
        validation_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
    };
    opts.checkpoint_path = (dir / "checkpoint.pt").string();
    opts.checkpoint_every = run.checkpoint_every;
    // Everything a resumed run needs beyond the trainer's own state: the experiment's (average,
    // chunk order, NFE) and this loop's (ELBO log, validation history, best model, generator).
    opts.save_extra_state = [&] {
      auto state = exp.state();
      state["cli.elbo_trace"] = doubles_tensor(elbo_trace);
      std::vector<double> flat;
      for (const auto& h : history) {
        flat.push_back(h[0].get<double>());
        flat.push_back(h[1].get<double>());
      }
      state["cli.history"] = doubles_tensor(flat);
      state["cli.best"] = doubles_tensor({best_rmse, static_cast<double>(best_step)});
      for (const auto& [name, t] : best) state["cli.best." + name] = t;
      state["cli.valid_generator"] = vgen.get_state();
      return state;
    };
    opts.load_extra_state = [&](const std::map<std::string, at::Tensor>& state) {
      exp.set_state(state);
      const auto get = [&](const std::string& key) -> const at::Tensor& {
        const auto it = state.find(key);
        if (it == state.end()) throw std::invalid_argument(a.resume + ": the checkpoint lacks '" + key + "'");
        return it->second;
      };
      elbo_trace = tensor_doubles(get("cli.elbo_trace"));
      const auto flat = tensor_doubles(get("cli.history"));
      history = nlohmann::json::array();
      for (size_t i = 0; i + 1 < flat.size(); i += 2) history.push_back({static_cast<int64_t>(flat[i]), flat[i + 1]});
      const auto b = tensor_doubles(get("cli.best"));
      best_rmse = b.at(0);
      best_step = static_cast<int64_t>(b.at(1));
      best.clear();
      const std::string prefix = "cli.best.";
      for (const auto& [key, t] : state)
        if (key.compare(0, prefix.size(), prefix) == 0) best[key.substr(prefix.size())] = t.clone();
      vgen.set_state(get("cli.valid_generator"));
    };
    auto gen = generator(s.seed + 17);
    infer::Trainer trainer([&exp, &gen](int64_t step) { return infer::LossEvaluation(exp.loss(step, gen)); }, adam, gen,
                           opts);
    if (resuming) trainer.resume(opts.checkpoint_path);
    const auto result = trainer.run();
    exp.use_average();
    const double train_seconds = result.seconds - validation_seconds;
    const double seconds_per_step = result.steps > 0 ? train_seconds / static_cast<double>(result.steps) : 0.0;
    auto v = exp.validate(s.valid_paths, generator(s.seed + 29));
    if (!best.empty() && best_rmse < v.rmse) {  // the final model unless a checked one was better
      at::NoGradGuard ng;
      for (auto& [name, p] : exp.parameters()) p.copy_(best.at(name));
      v = exp.validate(s.valid_paths, generator(s.seed + 29));
    } else {
      best_step = result.steps;
    }

    io::StagedOutputs staged(dir);
    {
      torch::serialize::OutputArchive archive;
      exp.model()->save(archive);
      std::ostringstream bytes;
      archive.save_to(bytes);
      staged.add("model.pt", bytes.str());
    }
    staged.add("forecast.csv", forecast_csv(v.times, v.forecast, exp.valid().x));
    std::ostringstream loss;
    loss << "step,elbo\n";
    loss.precision(9);
    for (size_t i = 0; i < elbo_trace.size(); ++i) loss << i + 1 << ',' << elbo_trace[i] << '\n';
    staged.add("loss.csv", loss.str());
    // The baseline a forecast has to beat: the training series' mean observation at every time.
    const double mean_rmse = (exp.valid().x - exp.data().trajectory(0).x.mean(0)).square().mean().sqrt().item<double>();
    nlohmann::json metrics = {{"valid_rmse", v.rmse},
                              {"valid_rmse_of_train_mean", mean_rmse},
                              {"nfe", exp.nfe().count()},
                              {"nfe_per_step", result.steps > 0 ? static_cast<double>(exp.nfe().count()) / static_cast<double>(result.steps) : 0.0},
                              {"steps", result.steps},
                              {"skipped_steps", result.skipped_steps},
                              {"seconds", train_seconds},
                              {"validation_seconds", validation_seconds},
                              {"model_step", best_step},
                              {"valid_history_step_rmse", history},
                              {"seconds_per_step", seconds_per_step},
                              {"peak_rss_mb", io::peak_rss_mb()},
                              {"final_elbo_per_point", result.last_elbo},
                              {"diffusion", [&] {
                                 const at::Tensor c = exp.model()->diffusion_loc().exp().to(at::kDouble).contiguous();
                                 return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
                               }()},
                              {"valid_paths", s.valid_paths},
                              {"threads", at::get_num_threads()}};
    staged.add("metrics.json", metrics.dump(2) + "\n");
    staged.commit();
    const std::string why = draw_forecast(exp.settings().model, v.times, exp.valid().x, v.forecast, (dir / "forecast.png").string(),
                                                   "ARCTA forecast over the validation span, RMSE " + std::to_string(v.rmse));
    if (!why.empty()) std::cerr << "amortize sde fit: warning: forecast.png not drawn: " << why << "\n";
    std::cout << "sde fit: " << result.steps << " steps, " << seconds_per_step * 1e3 << " ms per step, validation RMSE "
              << v.rmse << "; wrote " << (dir / "metrics.json").string() << "\n";
    return 0;
  } catch (...) {
    if (created) {
      std::error_code ec;
      fs::remove(dir / "settings.json", ec);
      fs::remove(dir / "checkpoint.pt", ec);
      io::remove_if_empty(dir);
    }
    throw;
  }
}

int run_forecast(const SdeForecastArgs& a) {
  const fs::path dir(a.from);
  std::ifstream in(dir / "settings.json");
  if (!in) throw std::invalid_argument("sde forecast: no fitted run in '" + a.from + "' (missing settings.json)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const std::exception&) {
    throw std::invalid_argument("sde forecast: '" + (dir / "settings.json").string() + "' is not valid JSON");
  }
  if (a.paths < 1) throw std::invalid_argument("--paths must be positive");
  if (a.horizon < 0 || a.dt < 0) throw std::invalid_argument("--horizon and --dt must not be negative");
  auto s = settings_from_json(j);
  if (a.dt > 0) s.valid_dt = a.dt;
  sde::ArctaExperiment exp(s);
  if (!fs::exists(dir / "model.pt")) throw std::invalid_argument("sde forecast: no model.pt in '" + a.from + "'");
  {
    torch::serialize::InputArchive archive;
    archive.load_from((dir / "model.pt").string());
    exp.model()->load(archive);
  }
  std::vector<double> times;
  const at::Tensor tv = exp.valid().t.to(at::kDouble).contiguous();
  const double t0 = tv[0].item<double>();
  const int64_t nv = tv.size(0);
  const double spacing = nv > 1 ? (tv[nv - 1].item<double>() - t0) / static_cast<double>(nv - 1) : s.valid_dt;
  const double horizon = a.horizon > 0 ? a.horizon : (tv[nv - 1].item<double>() - t0);
  for (int64_t k = 0; t0 + static_cast<double>(k) * spacing <= t0 + horizon * (1 + 1e-12); ++k)
    times.push_back(t0 + static_cast<double>(k) * spacing);
  if (times.size() < 2) times.push_back(t0 + horizon);
  auto v = exp.validate(a.paths, generator(a.seed), times);
  // RMSE over the part of the horizon the validation data covers.
  const int64_t overlap = std::min<int64_t>(nv, static_cast<int64_t>(times.size()));
  const double rmse = (v.forecast.mean.narrow(0, 0, overlap) - exp.valid().x.narrow(0, 0, overlap)).square().mean().sqrt().item<double>();
  const std::string name = "forecast_h" + std::to_string(static_cast<int64_t>(std::round(horizon * 1000))) + "ms";
  io::write_file_atomically(dir / (name + ".csv"), forecast_csv(times, v.forecast, exp.valid().x.narrow(0, 0, overlap)));
  const std::string why = draw_forecast(exp.settings().model, times, exp.valid().x.narrow(0, 0, overlap), v.forecast,
                                                 (dir / (name + ".png")).string(), "ARCTA forecast, " + std::to_string(a.paths) + " paths");
  if (!why.empty()) std::cerr << "amortize sde forecast: warning: " << name << ".png not drawn: " << why << "\n";
  std::cout << "sde forecast: " << a.paths << " paths over [" << t0 << ", " << t0 + horizon << "], RMSE over the "
            << overlap << " validation points " << rmse << "; wrote " << (dir / (name + ".csv")).string() << "\n";
  return 0;
}

}  // namespace

Runner add_sde_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("sde", "Latent SDEs by amortized reparametrization (ARCTA)");
  cmd->require_subcommand(1, 1);
  auto fit = std::make_shared<SdeFitArgs>();
  auto* f = cmd->add_subcommand("fit", "Fit a latent SDE to time series (settings from a TOML file)");
  f->add_option("--config", fit->config, "TOML settings file (see examples/sde/predprey.toml)");
  f->add_option("--resume", fit->resume, "Continue the run in this folder from its checkpoint (up to --steps in all)");
  f->add_option("--out", fit->out, "Output folder (or `out` in the file)");
  f->add_option("--steps", fit->steps, "Training steps (overrides the file)");
  f->add_option("--seed", fit->seed, "Random seed (overrides the file)");
  auto fc = std::make_shared<SdeForecastArgs>();
  auto* g = cmd->add_subcommand("forecast", "Forecast sample paths from a fitted run");
  g->add_option("--from", fc->from, "Folder of a run of `amortize sde fit`")->required();
  g->add_option("--horizon", fc->horizon, "Forecast span from the first validation time (default: the validation span)");
  g->add_option("--paths", fc->paths, "Number of sample paths")->capture_default_str();
  g->add_option("--dt", fc->dt, "Solver step (default: the run's valid_dt)");
  g->add_option("--seed", fc->seed, "Random seed")->capture_default_str();
  return [cmd, f, fit, fc]() {
    if (f->parsed()) return run_fit(*fit);
    return run_forecast(*fc);
  };
}

}  // namespace amortize::cli
