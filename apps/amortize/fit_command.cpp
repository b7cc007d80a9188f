// `amortize fit`: fits a built-in model to a data file with an automatic guide and writes the
// posterior summary, the loss trace and the run's settings into the output folder.
#include "amortize/infer/guides/auto_continuous.hpp"
#include "amortize/infer/guides/auto_normal.hpp"
#include "amortize/infer/predictive.hpp"
#include "amortize/infer/svi.hpp"
#include "amortize/io/data_file.hpp"
#include "amortize/model/param_store.hpp"
#include "commands.hpp"
#include "zoo.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

namespace amortize::cli {
namespace fs = std::filesystem;

namespace {
struct FitSettings {
  std::string model, data, guide = "mvn", out, init = "laplace";
  int64_t steps = 4000, particles = 16, draws = 1000;
  double lr = 0.01;
  uint64_t seed = 1;
};

std::shared_ptr<infer::AutoGuide> make_guide(const std::string& kind, infer::Program model) {
  if (kind == "normal") return std::make_shared<infer::AutoNormal>(model);
  if (kind == "mvn") return std::make_shared<infer::AutoMultivariateNormal>(model);
  if (kind == "lowrank") return std::make_shared<infer::AutoLowRankMultivariateNormal>(model);
  if (kind == "delta") return std::make_shared<infer::AutoDelta>(model);
  throw std::invalid_argument("unknown guide '" + kind + "' (known: normal, mvn, lowrank, delta)");
}

// Writes `text` to `path` through a temporary file and a rename, so a crash leaves no half file.
void write_atomically(const fs::path& path, const std::string& text) {
  fs::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) throw std::runtime_error(path.string() + ": cannot write");
    out << text;
    if (!out) throw std::runtime_error(path.string() + ": write failed");
  }
  fs::rename(tmp, path);
}

void prepare_output(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) throw std::invalid_argument(dir + ": cannot create output folder");
  fs::path probe = fs::path(dir) / ".write_test";
  std::ofstream test(probe);
  if (!test) throw std::invalid_argument(dir + ": output folder is not writable");
  test.close();
  fs::remove(probe);
}

int run_fit(const FitSettings& s) {
  if (s.steps <= 0) throw std::invalid_argument("--steps must be positive, got " + std::to_string(s.steps));
  if (!(s.lr > 0) || !std::isfinite(s.lr)) throw std::invalid_argument("--lr must be positive, got " + std::to_string(s.lr));
  if (s.particles <= 0) throw std::invalid_argument("--particles must be positive");
  const auto& spec = models::find_model(s.model);
  auto data = io::DataFile::read(s.data);
  auto model = spec.make(data, at::TensorOptions().dtype(at::kDouble));
  auto guide = make_guide(s.guide, model);
  if (s.init != "laplace" && s.init != "median") {
    throw std::invalid_argument("unknown --init '" + s.init + "' (known: laplace, median)");
  }
  prepare_output(s.out);

  model::ParamStore store;
  model::ParamStoreScope scope(store);
  bool laplace = false;
  if (auto* joint = dynamic_cast<infer::AutoContinuous*>(guide.get()); joint && s.init == "laplace") {
    laplace = joint->initialize_laplace();
  }
  // The learning rate decays a hundredfold over the run so that the last iterates settle.
  const double decay = std::pow(0.01, 1.0 / static_cast<double>(s.steps));
  infer::Svi svi(model, guide->program(), std::make_shared<infer::TraceElbo>(infer::ElboOptions{s.particles}),
                 {s.lr, s.seed, decay});
  const auto start = std::chrono::steady_clock::now();
  std::string loss_csv = "step,elbo\n";
  // Counted, not yet skipped: the trainer's NaN guard (skip and stop) is still to come.
  int64_t nonfinite_steps = 0;
  for (int64_t step = 1; step <= s.steps; ++step) {
    const double elbo = svi.step();
    if (!std::isfinite(elbo)) ++nonfinite_steps;
    loss_csv += std::to_string(step) + "," + std::to_string(elbo) + "\n";
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  auto draws = infer::posterior_draws(model, guide->program(), s.draws, s.seed + 1);
  std::ostringstream summary;
  summary << "parameter,mean,sd,q05,q50,q95\n";
  summary.precision(8);
  for (const auto& p : infer::summarize(draws)) {
    summary << p.name << ',' << p.mean << ',' << p.sd << ',' << p.q05 << ',' << p.q50 << ',' << p.q95 << '\n';
  }
  nlohmann::json run = {{"model", s.model},   {"data", s.data},         {"guide", s.guide},
                        {"steps", s.steps},   {"particles", s.particles}, {"lr", s.lr},
                        {"seed", s.seed},     {"wall_seconds", seconds},  {"nonfinite_elbo_steps", nonfinite_steps},
                        {"version", AMORTIZE_VERSION}, {"final_elbo", svi.objective().last_elbo()},
                        {"init", s.init},     {"laplace_start_succeeded", laplace}};
  write_atomically(fs::path(s.out) / "summary.csv", summary.str());
  write_atomically(fs::path(s.out) / "loss.csv", loss_csv);
  write_atomically(fs::path(s.out) / "run.json", run.dump(2) + "\n");
  std::cerr << "fit: " << s.steps << " steps in " << seconds << " s, final ELBO " << svi.objective().last_elbo()
            << "; wrote " << s.out << "/summary.csv\n";
  return 0;
}
}  // namespace

Runner add_fit_command(CLI::App& app) {
  auto settings = std::make_shared<FitSettings>();
  auto* cmd = app.add_subcommand("fit", "Fit a built-in model to data with SVI and an automatic guide");
  cmd->add_option("--model", settings->model, "Built-in model name (see `amortize models`)")->required();
  cmd->add_option("--data", settings->data, "Data file (JSON in posteriordb's layout, or CSV with a header)")->required();
  cmd->add_option("--guide", settings->guide, "normal | mvn | lowrank | delta")->capture_default_str();
  cmd->add_option("--init", settings->init, "laplace (mode and inverse Hessian; mvn and lowrank) | median")
      ->capture_default_str();
  cmd->add_option("--steps", settings->steps, "Optimisation steps")->capture_default_str();
  cmd->add_option("--particles", settings->particles, "Monte-Carlo particles per step")->capture_default_str();
  cmd->add_option("--lr", settings->lr, "Adam learning rate")->capture_default_str();
  cmd->add_option("--seed", settings->seed, "Random seed")->capture_default_str();
  cmd->add_option("--draws", settings->draws, "Posterior draws for the summary")->capture_default_str();
  cmd->add_option("--out", settings->out, "Output folder")->required();
  return [settings] { return run_fit(*settings); };
}

}  // namespace amortize::cli
