// `amortize fit`: fits a built-in model to a data file with an automatic guide and writes the
// posterior summary and draws, the loss trace and its plot, and the run's settings into the
// output folder. Settings come from the flags and an optional TOML file with the same keys
// (flags win). Everything is checked before the folder is touched. The trainer writes
// checkpoint.pt (temporary file, then rename) and loss.csv as it goes; the other outputs
// appear together at the end. `--resume DIR` continues a run from its checkpoint with the
// settings in DIR/run.json, up to --steps in all.
#include "amortize/infer/guides/auto_continuous.hpp"
#include "amortize/infer/guides/auto_normal.hpp"
#include "amortize/infer/guides/auto_normalizing_flow.hpp"
#include "amortize/infer/checkpoint.hpp"
#include "amortize/infer/svi.hpp"
#include "amortize/infer/trainer.hpp"
#include "amortize/io/config.hpp"
#include "amortize/io/data_file.hpp"
#include "amortize/io/gnuplot.hpp"
#include "amortize/io/output_folder.hpp"
#include "amortize/model/param_store.hpp"
#include "commands.hpp"
#include "fit_outputs.hpp"
#include "zoo.hpp"

#include <torch/version.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>

namespace amortize::cli {
namespace fs = std::filesystem;

namespace {
// The checkpoint the trainer writes into the run folder and `--resume` reads.
constexpr const char* kCheckpointFile = "checkpoint.pt";
constexpr int64_t kCheckpointEvery = 500;

struct FitSettings {
  std::string model, data, guide = "mvn", out, init = "laplace", config, resume;
  int64_t steps = 4000, particles = 16, draws = 1000;
  double lr = 0.01;
  int64_t seed = 1;
  // The learning rate decays a hundredfold over this many steps, then stays; it does not
  // depend on --steps, so that a run resumed to N steps equals one run of N steps.
  int64_t lr_decay_steps = 4000;
  // Stan ADVI's relative-ELBO-change stopping rule (0: off, the step budget alone).
  double tol_rel_obj = 0;
};

// The TOML keys: the long option names, with their types.
const io::ConfigSchema& config_schema() {
  static const io::ConfigSchema schema = {{"model", io::ConfigType::String},      {"data", io::ConfigType::String},
                                          {"guide", io::ConfigType::String},      {"init", io::ConfigType::String},
                                          {"out", io::ConfigType::String},        {"steps", io::ConfigType::Integer},
                                          {"particles", io::ConfigType::Integer}, {"draws", io::ConfigType::Integer},
                                          {"seed", io::ConfigType::Integer},      {"lr", io::ConfigType::Real},
                                          {"lr-decay-steps", io::ConfigType::Integer},
                                          {"tol-rel-obj", io::ConfigType::Real}};
  return schema;
}

// Fills every setting the command line did not give from the config file.
void apply_config(FitSettings& s, const std::map<std::string, CLI::Option*>& options) {
  const auto config = io::read_config(s.config, config_schema());
  const std::map<std::string, std::function<void(const io::ConfigValue&)>> setters = {
      {"model", [&](const io::ConfigValue& v) { s.model = std::get<std::string>(v); }},
      {"data", [&](const io::ConfigValue& v) { s.data = std::get<std::string>(v); }},
      {"guide", [&](const io::ConfigValue& v) { s.guide = std::get<std::string>(v); }},
      {"init", [&](const io::ConfigValue& v) { s.init = std::get<std::string>(v); }},
      {"out", [&](const io::ConfigValue& v) { s.out = std::get<std::string>(v); }},
      {"steps", [&](const io::ConfigValue& v) { s.steps = std::get<int64_t>(v); }},
      {"particles", [&](const io::ConfigValue& v) { s.particles = std::get<int64_t>(v); }},
      {"draws", [&](const io::ConfigValue& v) { s.draws = std::get<int64_t>(v); }},
      {"seed", [&](const io::ConfigValue& v) { s.seed = std::get<int64_t>(v); }},
      {"lr", [&](const io::ConfigValue& v) { s.lr = std::get<double>(v); }},
      {"lr-decay-steps", [&](const io::ConfigValue& v) { s.lr_decay_steps = std::get<int64_t>(v); }},
      {"tol-rel-obj", [&](const io::ConfigValue& v) { s.tol_rel_obj = std::get<double>(v); }}};
  for (const auto& [key, entry] : config) {
    if (options.at(key)->count() > 0) continue;  // the command line wins
    setters.at(key)(entry.value);
  }
}

std::string number(double x) {
  std::ostringstream out;
  out.precision(10);
  out << x;
  return out.str();
}

// Checks every plain setting; the error names the flag (which is also the config key).
void check_settings(const FitSettings& s) {
  const std::string from = s.config.empty() ? "" : " (on the command line or in " + s.config + ")";
  if (s.model.empty()) throw std::invalid_argument("--model is required" + from);
  if (s.data.empty()) throw std::invalid_argument("--data is required" + from);
  if (s.out.empty()) throw std::invalid_argument("--out is required" + from);
  if (s.steps <= 0) throw std::invalid_argument("--steps must be positive, got " + std::to_string(s.steps));
  if (!(s.lr > 0) || !std::isfinite(s.lr)) {
    std::ostringstream lr;
    lr << s.lr;
    throw std::invalid_argument("--lr must be a positive number, got " + lr.str());
  }
  if (s.particles <= 0) throw std::invalid_argument("--particles must be positive, got " + std::to_string(s.particles));
  if (s.draws <= 0) throw std::invalid_argument("--draws must be positive, got " + std::to_string(s.draws));
  if (s.seed < 0) throw std::invalid_argument("--seed must be non-negative, got " + std::to_string(s.seed));
  if (s.lr_decay_steps <= 0) {
    throw std::invalid_argument("--lr-decay-steps must be positive, got " + std::to_string(s.lr_decay_steps));
  }
  if (!(s.tol_rel_obj >= 0) || !std::isfinite(s.tol_rel_obj)) {
    throw std::invalid_argument("--tol-rel-obj must be a non-negative number, got " + number(s.tol_rel_obj));
  }
  if (s.guide != "normal" && s.guide != "mvn" && s.guide != "lowrank" && s.guide != "flow" && s.guide != "delta") {
    throw std::invalid_argument("unknown --guide '" + s.guide + "' (known: normal, mvn, lowrank, flow, delta)");
  }
  if (s.init != "laplace" && s.init != "median") {
    throw std::invalid_argument("unknown --init '" + s.init + "' (known: laplace, median)");
  }
}

// `--resume DIR`: the folder must hold a checkpoint and the run.json of the run that wrote it;
// the run's settings come from run.json except those given on the command line.
void load_resumed_settings(FitSettings& s, const std::map<std::string, CLI::Option*>& options) {
  const fs::path dir = s.resume;
  std::error_code ec;
  if (!fs::exists(dir, ec)) throw io::DataError(s.resume + ": no such run folder to resume");
  if (!fs::is_directory(dir, ec)) throw io::DataError(s.resume + ": not a run folder (it is a file)");
  if (!fs::exists(dir / kCheckpointFile, ec)) {
    throw io::DataError(s.resume + ": no checkpoint in the run folder (expected " + (dir / kCheckpointFile).string() + ")");
  }
  const fs::path run_file = dir / "run.json";
  std::ifstream in(run_file);
  if (!in) throw io::DataError(run_file.string() + ": missing, so the run's settings are unknown");
  nlohmann::json run;
  try {
    run = nlohmann::json::parse(in);
    auto take = [&](const char* key, auto& field) {
      if (options.count(key) && options.at(key)->count() > 0) return;  // the command line wins
      field = run.at(key).get<std::decay_t<decltype(field)>>();
    };
    take("model", s.model);
    take("data", s.data);
    take("guide", s.guide);
    take("init", s.init);
    take("steps", s.steps);
    take("particles", s.particles);
    take("lr", s.lr);
    take("seed", s.seed);
    take("draws", s.draws);
    take("lr-decay-steps", s.lr_decay_steps);
    take("tol-rel-obj", s.tol_rel_obj);
  } catch (const nlohmann::json::exception& e) {
    throw io::DataError(run_file.string() + ": not the run.json of an amortize fit (" + e.what() + ")");
  }
  if (options.at("out")->count() > 0 && fs::path(s.out) != dir) {
    throw std::invalid_argument("--out must be left out or equal the --resume folder");
  }
  s.out = s.resume;
}

// The loss log of the run so far, up to `last_step` (later rows belong to steps the resumed
// run redoes).
void read_loss_log(const fs::path& path, int64_t last_step, std::vector<double>& steps, std::vector<double>& elbos) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    const auto comma = line.find(',');
    if (comma == std::string::npos) continue;
    const double step = std::stod(line.substr(0, comma));
    if (step > static_cast<double>(last_step)) break;
    steps.push_back(step);
    elbos.push_back(std::stod(line.substr(comma + 1)));
  }
}

nlohmann::json settings_json(const FitSettings& s) {
  return {{"model", s.model},         {"data", s.data},
          {"config", s.config},       {"guide", s.guide},
          {"init", s.init},           {"steps", s.steps},
          {"particles", s.particles}, {"lr", s.lr},
          {"seed", s.seed},           {"draws", s.draws},
          {"lr-decay-steps", s.lr_decay_steps}, {"tol-rel-obj", s.tol_rel_obj}};
}

std::shared_ptr<infer::AutoGuide> make_guide(const std::string& kind, infer::Program model) {
  if (kind == "normal") return std::make_shared<infer::AutoNormal>(model);
  if (kind == "mvn") return std::make_shared<infer::AutoMultivariateNormal>(model);
  if (kind == "lowrank") return std::make_shared<infer::AutoLowRankMultivariateNormal>(model);
  if (kind == "flow") return std::make_shared<infer::AutoNormalizingFlow>(model);
  if (kind == "delta") return std::make_shared<infer::AutoDelta>(model);
  throw std::invalid_argument("unknown --guide '" + kind + "' (known: normal, mvn, lowrank, flow, delta)");
}

int run_fit(FitSettings s, const std::map<std::string, CLI::Option*>& options) {
  const auto total_start = std::chrono::steady_clock::now();
  if (!s.config.empty()) apply_config(s, options);
  const bool resuming = !s.resume.empty();
  if (resuming) load_resumed_settings(s, options);
  check_settings(s);
  const auto& spec = models::find_model(s.model);
  auto data = io::DataFile::read(s.data);
  auto model = spec.make(data, at::TensorOptions().dtype(at::kDouble));
  auto guide = make_guide(s.guide, model);
  const bool created = io::prepare_output_folder(s.out);
  const fs::path out = s.out;
  try {
    model::ParamStore store;
    model::ParamStoreScope scope(store);
    bool laplace = false;
    if (auto* joint = dynamic_cast<infer::AutoContinuous*>(guide.get()); joint && s.init == "laplace" && !resuming) {
      laplace = joint->initialize_laplace();
    }
    const auto seed = static_cast<uint64_t>(s.seed);
    infer::Svi svi(model, guide->program(), std::make_shared<infer::TraceElbo>(infer::ElboOptions{s.particles}),
                   {s.lr, seed});
    infer::TrainerOptions training;
    training.max_steps = s.steps;
    const double decay_steps = static_cast<double>(s.lr_decay_steps);
    training.schedule = [decay_steps](int64_t step) {
      return std::pow(0.01, std::min(static_cast<double>(step), decay_steps) / decay_steps);
    };
    training.checkpoint_path = (out / kCheckpointFile).string();
    training.checkpoint_every = kCheckpointEvery;
    if (s.tol_rel_obj > 0) {
      training.convergence.enabled = true;
      training.convergence.tolerance = s.tol_rel_obj;
    }
    std::vector<double> steps, elbos;
    std::ofstream loss_log;  // opened below, before the first step
    training.on_step = [&](int64_t step, double elbo) {
      loss_log << step << "," << number(elbo) << "\n";
      if (step % 100 == 0) loss_log.flush();
      steps.push_back(static_cast<double>(step));
      elbos.push_back(elbo);
    };
    auto trainer = svi.trainer(training);
    if (resuming) {
      trainer->resume(training.checkpoint_path);
      read_loss_log(out / "loss.csv", trainer->steps_done(), steps, elbos);
    } else {
      // Settings first, so that an interrupted run can be resumed.
      nlohmann::json started = settings_json(s);
      started["status"] = "running";
      io::write_file_atomically(out / "run.json", started.dump(2) + "\n");
    }
    // loss.csv grows as the run goes (rewritten up to the checkpoint when resuming).
    loss_log.open(out / "loss.csv", std::ios::trunc);
    loss_log << "step,elbo\n";
    for (size_t i = 0; i < steps.size(); ++i) loss_log << static_cast<int64_t>(steps[i]) << "," << number(elbos[i]) << "\n";
    const infer::TrainResult result = trainer->run();
    loss_log.close();
    const double seconds = result.seconds;
    const int64_t nonfinite_steps = result.skipped_steps;

    const auto sample = draw_variational_sample(model, *guide, s.draws, seed + 1);
    const std::vector<std::pair<std::string, std::string>> csv_settings = {
        {"model", s.model},
        {"method", "variational"},
        {"algorithm", s.guide},
        {"iter", std::to_string(result.steps)},
        {"grad_samples", std::to_string(s.particles)},
        {"output_samples", std::to_string(s.draws)},
        {"init", s.init},
        {"seed", std::to_string(s.seed)},
        {"data_file", s.data},
        {"amortize_version", AMORTIZE_VERSION}};
    nlohmann::json run = settings_json(s);
    run.update({{"status", "done"},
                {"steps_done", result.steps},
                {"stop_reason", result.stop_reason},
                {"wall_seconds", seconds},
                {"skipped_steps", nonfinite_steps},
                {"version", AMORTIZE_VERSION},
                {"libtorch_version", TORCH_VERSION},
                {"final_elbo", result.last_elbo},
                {"resumed", resuming},
                {"laplace_start_succeeded", laplace}});

    io::StagedOutputs outputs(s.out);
    outputs.add("summary.csv", summary_csv(sample.draws));
    outputs.add("draws.csv", draws_csv(sample, csv_settings, s.lr));
    io::LossPlotOptions plot;
    plot.title = s.model + ": ELBO by step (" + s.guide + " guide, " + std::to_string(s.particles) + " particles)";
    const std::string plot_problem = io::plot_loss_png(steps, elbos, outputs.staging_path("loss.png"), plot);
    if (plot_problem.empty()) {
      outputs.adopt("loss.png");
    } else {
      std::error_code ec;
      fs::remove(fs::path(s.out) / "loss.png", ec);  // never leave an older run's plot behind
      std::cerr << "amortize fit: warning: loss.png not drawn: " << plot_problem << "\n";
    }
    run["total_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - total_start).count();
    outputs.add("run.json", run.dump(2) + "\n");
    outputs.commit();
    std::cerr << "fit: " << result.steps << " steps (" << result.stop_reason << ") in " << seconds << " s, final ELBO "
              << result.last_elbo << "; wrote " << s.out << "/{summary.csv,draws.csv,loss.csv,"
              << (plot_problem.empty() ? "loss.png," : "") << "run.json," << kCheckpointFile << "}\n";
    return 0;
  } catch (...) {
    if (created) io::remove_if_empty(s.out);
    throw;
  }
}
}  // namespace

Runner add_fit_command(CLI::App& app) {
  auto settings = std::make_shared<FitSettings>();
  auto options = std::make_shared<std::map<std::string, CLI::Option*>>();
  auto* cmd = app.add_subcommand("fit", "Fit a built-in model to data with SVI and an automatic guide");
  auto& o = *options;
  o["model"] = cmd->add_option("--model", settings->model, "Built-in model name (see `amortize models`); required");
  o["data"] = cmd->add_option("--data", settings->data,
                              "Data file (JSON in posteriordb's layout, or CSV with a header); required");
  o["guide"] =
      cmd->add_option("--guide", settings->guide, "normal | mvn | lowrank | flow (inverse autoregressive) | delta")
          ->capture_default_str();
  o["init"] =
      cmd->add_option("--init", settings->init, "laplace (mode and inverse Hessian; mvn, lowrank and flow) | median")
          ->capture_default_str();
  o["steps"] = cmd->add_option("--steps", settings->steps, "Optimisation steps in all (a resumed run continues up to it)")
                   ->capture_default_str();
  o["particles"] =
      cmd->add_option("--particles", settings->particles, "Monte-Carlo particles per step")->capture_default_str();
  o["lr"] = cmd->add_option("--lr", settings->lr, "Adam learning rate")->capture_default_str();
  o["lr-decay-steps"] = cmd->add_option("--lr-decay-steps", settings->lr_decay_steps,
                                        "The learning rate decays 100x over this many steps, then stays")
                            ->capture_default_str();
  o["tol-rel-obj"] = cmd->add_option("--tol-rel-obj", settings->tol_rel_obj,
                                     "Stop when the relative ELBO change (Stan ADVI's rule) falls below this; 0: off")
                         ->capture_default_str();
  o["seed"] = cmd->add_option("--seed", settings->seed, "Random seed (non-negative)")->capture_default_str();
  o["draws"] = cmd->add_option("--draws", settings->draws, "Posterior draws for draws.csv and summary.csv")
                   ->capture_default_str();
  o["out"] = cmd->add_option("--out", settings->out, "Output folder; required");
  cmd->add_option("--config", settings->config,
                  "TOML file with any of the keys above (model = \"...\", steps = 4000, ...); flags override it");
  cmd->add_option("--resume", settings->resume,
                  "Continue the run in this folder from its checkpoint, with its settings (flags override them)");
  return [settings, options] { return run_fit(*settings, *options); };
}

}  // namespace amortize::cli
