// `amortize pavi fit --model gre --groups G [--obs-per-group N] [--batch B]
// [--encoding free|set] [--method pavi|mean-field] [--steps N] [--seed S] --out DIR`: fits GRE
// on synthetic data drawn from the seed by plate-amortized VI (or the mean-field baseline) and
// writes metrics.json (ELBO, wall time, steps, peak RSS, parameter count, latent dimensions, the
// errors against the exact posterior), summary.csv for the global sites and elbo.png.
#include "amortize/io/gnuplot.hpp"
#include "amortize/io/output_folder.hpp"
#include "amortize/pavi/gre_fit.hpp"
#include "commands.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace amortize::cli {
namespace {
namespace fs = std::filesystem;

struct PaviFitArgs {
  std::string model = "gre";
  int64_t groups = 1000;
  int64_t obs_per_group = 5;
  int64_t batch = 1000;
  std::string encoding = "free";
  std::string method = "pavi";
  int64_t steps = 2000;
  uint64_t seed = 1;
  double learning_rate = 0.02;
  int64_t evaluate_groups = 100000;
  std::string out;
};

int run_pavi_fit(const PaviFitArgs& a) {
  if (a.model != "gre") throw std::invalid_argument("--model: only 'gre' is implemented, got '" + a.model + "'");
  if (a.groups < 1 || a.obs_per_group < 1 || a.batch < 1 || a.steps < 1) {
    throw std::invalid_argument("--groups, --obs-per-group, --batch and --steps must be positive");
  }
  io::prepare_output_folder(a.out);
  pavi::GreDataOptions data_options;
  data_options.groups = a.groups;
  data_options.obs_per_group = a.obs_per_group;
  data_options.seed = a.seed;
  const auto data = pavi::generate_gre(data_options);
  pavi::GreFitOptions o;
  o.method = a.method == "mean-field" ? pavi::GreMethod::MeanField : pavi::GreMethod::Pavi;
  o.encoding = a.encoding == "set" ? pavi::Encoding::Set : pavi::Encoding::Free;
  o.batch = a.batch;
  o.steps = a.steps;
  o.seed = a.seed;
  o.learning_rate = a.learning_rate;
  o.evaluate_groups = a.evaluate_groups;
  const auto r = pavi::fit_gre(data, o);

  io::StagedOutputs outputs(a.out);
  nlohmann::json metrics = {
      {"model", a.model},
      {"method", pavi::to_string(o.method, o.encoding)},
      {"groups", a.groups},
      {"obs_per_group", a.obs_per_group},
      {"batch", std::min(a.batch, a.groups)},
      {"seed", a.seed},
      {"elbo", r.final_elbo},
      {"seconds", r.train_seconds},
      {"moments_seconds", r.moments_seconds},
      {"steps", r.steps},
      {"ms_per_step", 1000.0 * r.train_seconds / static_cast<double>(r.steps)},
      {"peak_rss_mb", r.peak_rss_mb},
      {"n_parameters", r.n_parameters},
      {"latent_dims", r.latent_dims},
      {"exact_errors",
       {{"mu_mean_error_in_sds", r.mu_mean_error_sd},
        {"mu_sd_relative_error", r.mu_sd_rel_error},
        {"mu_g_mean_error_in_sds_mean", r.mu_g_mean_error_sd_mean},
        {"mu_g_mean_error_in_sds_max", r.mu_g_mean_error_sd_max},
        {"mu_g_sd_relative_error_mean", r.mu_g_sd_rel_error_mean},
        {"groups_evaluated", r.fitted.mu_g_mean.size(0)}}},
  };
  outputs.add("metrics.json", metrics.dump(2) + "\n");
  std::ostringstream csv;
  csv << "parameter,mean,sd\n" << std::setprecision(8);
  for (int64_t d = 0; d < r.fitted.mu_mean.numel(); ++d) {
    csv << "mu[" << d + 1 << "]," << r.fitted.mu_mean[d].item<double>() << "," << r.fitted.mu_sd[d].item<double>() << "\n";
  }
  outputs.add("summary.csv", csv.str());
  std::vector<double> steps(r.elbo.size());
  for (size_t i = 0; i < steps.size(); ++i) steps[i] = static_cast<double>(i + 1);
  io::LossPlotOptions plot;
  plot.title = "GRE, G = " + std::to_string(a.groups) + ", " + pavi::to_string(o.method, o.encoding);
  const std::string why = io::plot_loss_png(steps, r.elbo, outputs.staging_path("elbo.png"), plot);
  if (why.empty()) {
    outputs.adopt("elbo.png");
  } else {
    std::cerr << "amortize pavi: warning: no elbo.png (" << why << ")\n";
  }
  outputs.commit();
  std::cout << "pavi fit: " << r.steps << " steps in " << r.train_seconds << " s, ELBO " << r.final_elbo
            << ", mu error " << r.mu_mean_error_sd << " sds; wrote " << a.out << "/{metrics.json,summary.csv,elbo.png}\n";
  return 0;
}
}  // namespace

Runner add_pavi_command(CLI::App& app) {
  auto* pavi = app.add_subcommand("pavi", "plate-amortized variational inference for large hierarchical models");
  pavi->require_subcommand(1);
  auto* fit = pavi->add_subcommand("fit", "fit a hierarchical model on synthetic data and write metrics");
  auto args = std::make_shared<PaviFitArgs>();
  fit->add_option("--model", args->model, "model name (gre)")->capture_default_str();
  fit->add_option("--groups", args->groups, "number of groups G")->capture_default_str();
  fit->add_option("--obs-per-group", args->obs_per_group, "observations per group N")->capture_default_str();
  fit->add_option("--batch", args->batch, "groups per step")->capture_default_str();
  fit->add_option("--encoding", args->encoding, "free (PAVI-F) or set (PAVI-E)")
      ->check(CLI::IsMember({"free", "set"}))
      ->capture_default_str();
  fit->add_option("--method", args->method, "pavi or mean-field (AutoNormal baseline)")
      ->check(CLI::IsMember({"pavi", "mean-field"}))
      ->capture_default_str();
  fit->add_option("--steps", args->steps, "optimisation steps")->capture_default_str();
  fit->add_option("--seed", args->seed, "seed of the data, initialisation and batches")->capture_default_str();
  fit->add_option("--lr", args->learning_rate, "initial Adam learning rate (decays 40x over the run)")->capture_default_str();
  fit->add_option("--evaluate-groups", args->evaluate_groups, "groups whose posterior is checked against the exact one")
      ->capture_default_str();
  fit->add_option("--out", args->out, "output folder")->required();
  return [args] { return run_pavi_fit(*args); };
}

}  // namespace amortize::cli
