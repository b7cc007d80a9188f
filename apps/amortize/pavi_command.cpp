// `amortize pavi fit --model gre|gamma-laplace|mixture|three-level --groups G [--obs-per-group N]
// [--batch B] [--encoding free|set] [--encoder deepset|set-transformer]
// [--method pavi|mean-field|flow] [--steps N] [--seed S] [--average-from F] [--local-average-from F]
// --out DIR`: fits a hierarchy on synthetic data drawn from the seed by plate-amortized VI (or
// the mean-field or non-amortized flow baseline) and writes metrics.json (ELBO, wall time,
// steps, peak RSS, parameter count, latent dimensions; for GRE the errors against the exact
// posterior, for the others the true values of the global sites), summary.csv for the global
// sites and elbo.png.
#include "amortize/io/gnuplot.hpp"
#include "amortize/io/output_folder.hpp"
#include "amortize/pavi/gamma_laplace.hpp"
#include "amortize/pavi/gre_fit.hpp"
#include "amortize/pavi/model_fit.hpp"
#include "commands.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
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
  int64_t batch = 0;  // 0: min(1000, groups)
  std::string encoding = "free";
  std::string encoder = "deepset";
  int64_t sessions = 3;
  int64_t components = 3;
  std::string method = "pavi";
  int64_t steps = 2000;
  uint64_t seed = 1;
  double learning_rate = 0.02;
  int64_t evaluate_groups = 100000;
  int64_t particles = 2;
  double average_from = 0.5;
  double local_average_from = 0.75;
  std::string out;
};

int run_pavi_fit(PaviFitArgs a) {
  const auto names = pavi::hierarchy_names();
  if (std::find(names.begin(), names.end(), a.model) == names.end()) {
    std::string known;
    for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
    throw std::invalid_argument("--model: unknown model '" + a.model + "' (known: " + known + ")");
  }
  if (a.batch == 0) a.batch = std::min<int64_t>(1000, a.groups);
  if (a.groups < 1 || a.obs_per_group < 1 || a.batch < 1 || a.steps < 1 || a.particles < 1 || a.sessions < 1) {
    throw std::invalid_argument(
        "--groups, --obs-per-group, --batch, --steps, --particles and --sessions must be positive");
  }
  if (a.components < 2) throw std::invalid_argument("--components must be at least 2");
  for (const auto& [flag, value] : {std::pair{"--average-from", a.average_from},
                                    std::pair{"--local-average-from", a.local_average_from}}) {
    if (!(value >= 0 && value <= 1)) throw std::invalid_argument(std::string(flag) + " must be in [0, 1]");
  }
  if (a.batch > a.groups) {
    throw std::invalid_argument("--batch " + std::to_string(a.batch) + " exceeds --groups " + std::to_string(a.groups));
  }
  io::prepare_output_folder(a.out);
  pavi::GreFitOptions o;
  o.method = a.method == "mean-field" ? pavi::GreMethod::MeanField : pavi::GreMethod::Pavi;
  o.encoding = a.method == "flow"    ? pavi::Encoding::Unshared
               : a.encoding == "set" ? pavi::Encoding::Set
                                     : pavi::Encoding::Free;
  o.set_encoder = pavi::parse_set_encoder(a.encoder);
  o.batch = a.batch;
  o.steps = a.steps;
  o.seed = a.seed;
  o.learning_rate = a.learning_rate;
  o.evaluate_groups = a.evaluate_groups;
  o.particles = a.particles;
  o.average_from = a.average_from;
  o.local_average_from = a.local_average_from;

  nlohmann::json metrics = {
      {"model", a.model},   {"method", pavi::to_string(o.method, o.encoding)},
      {"groups", a.groups}, {"obs_per_group", a.obs_per_group},
      {"batch", a.batch},   {"particles", a.particles},
      {"seed", a.seed},
  };
  if (o.encoding == pavi::Encoding::Set) metrics["encoder"] = a.encoder;
  std::vector<double> elbo;
  std::ostringstream csv;
  csv << "parameter,mean,sd\n" << std::setprecision(8);
  auto add_rows = [&](const std::string& site, const Tensor& mean, const Tensor& sd) {
    for (int64_t d = 0; d < mean.numel(); ++d) {
      csv << site << "[" << d + 1 << "]," << mean[d].item<double>() << "," << sd[d].item<double>() << "\n";
    }
  };
  auto add_run = [&](const pavi::TrainingTrace& t, double moments_seconds, double peak_rss_mb, int64_t n_parameters,
                     int64_t latent_dims) {
    // The final guide's ELBO over the whole population (PAVI and mean-field); the training
    // estimates' tail only where it was not computed.
    metrics["elbo_training_tail"] = t.final_elbo;
    metrics["elbo"] = t.final_guide ? t.final_guide->elbo : t.final_elbo;
    metrics["elbo_source"] = t.final_guide ? "final guide, whole population" : "training steps, last 10 %";
    if (t.final_guide) {
      metrics["elbo_standard_error"] = t.final_guide->standard_error;
      metrics["elbo_particles"] = t.final_guide->particles;
      metrics["elbo_seconds"] = t.final_guide->seconds;
    }
    metrics["seconds"] = t.train_seconds;
    metrics["moments_seconds"] = moments_seconds;
    metrics["steps"] = t.steps;
    metrics["ms_per_step"] = 1000.0 * t.train_seconds / static_cast<double>(t.steps);
    metrics["peak_rss_mb"] = peak_rss_mb;
    metrics["n_parameters"] = n_parameters;
    metrics["latent_dims"] = latent_dims;
    elbo = t.elbo;
  };
  std::string headline;
  if (a.model == "gre") {
    pavi::GreDataOptions data_options;
    data_options.groups = a.groups;
    data_options.obs_per_group = a.obs_per_group;
    data_options.seed = a.seed;
    const auto data = pavi::generate_gre(data_options);
    const auto r = pavi::fit_gre(data, o);
    add_run(r, r.moments_seconds, r.peak_rss_mb, r.n_parameters, r.latent_dims);
    metrics["log_evidence"] = pavi::gre_log_evidence(data.x);
    metrics["exact_errors"] = {{"mu_mean_error_in_sds", r.mu_mean_error_sd},
                               {"mu_sd_relative_error", r.mu_sd_rel_error},
                               {"mu_g_mean_error_in_sds_mean", r.mu_g_mean_error_sd_mean},
                               {"mu_g_mean_error_in_sds_max", r.mu_g_mean_error_sd_max},
                               {"mu_g_sd_relative_error_mean", r.mu_g_sd_rel_error_mean},
                               {"groups_evaluated", r.fitted.mu_g_mean.size(0)}};
    add_rows("mu", r.fitted.mu_mean, r.fitted.mu_sd);
    std::ostringstream h;
    h << ", mu error " << r.mu_mean_error_sd << " sds";
    headline = h.str();
  } else {
    pavi::HierarchySize size;
    size.groups = a.groups;
    size.obs_per_group = a.obs_per_group;
    size.sessions = a.sessions;
    size.components = a.components;
    size.batch = a.batch;
    size.seed = a.seed;
    const auto h = pavi::make_hierarchy(a.model, size);
    const auto r = pavi::fit_model(h, o);
    add_run(r, r.moments_seconds, r.peak_rss_mb, r.n_parameters, r.latent_dims);
    for (const auto& g : r.globals) {
      const Tensor truth = h.truth.at(g.site).to(at::kDouble).flatten();
      metrics["true_" + g.site] =
          std::vector<double>(truth.data_ptr<double>(), truth.data_ptr<double>() + truth.numel());
      add_rows(g.site, g.mean.flatten(), g.sd.flatten());
    }
  }

  io::StagedOutputs outputs(a.out);
  outputs.add("metrics.json", metrics.dump(2) + "\n");
  outputs.add("summary.csv", csv.str());
  std::vector<double> steps(elbo.size());
  for (size_t i = 0; i < steps.size(); ++i) steps[i] = static_cast<double>(i + 1);
  io::LossPlotOptions plot;
  plot.title = a.model + ", G = " + std::to_string(a.groups) + ", " + pavi::to_string(o.method, o.encoding);
  const std::string why = io::plot_loss_png(steps, elbo, outputs.staging_path("elbo.png"), plot);
  if (why.empty()) {
    outputs.adopt("elbo.png");
  } else {
    std::cerr << "amortize pavi: warning: no elbo.png (" << why << ")\n";
  }
  outputs.commit();
  std::cout << "pavi fit: " << metrics["steps"] << " steps in " << metrics["seconds"] << " s, ELBO " << metrics["elbo"]
            << headline << "; wrote " << a.out << "/{metrics.json,summary.csv,elbo.png}\n";
  return 0;
}
}  // namespace

Runner add_pavi_command(CLI::App& app) {
  auto* pavi = app.add_subcommand("pavi", "plate-amortized variational inference for large hierarchical models");
  pavi->require_subcommand(1);
  auto* fit = pavi->add_subcommand("fit", "fit a hierarchical model on synthetic data and write metrics");
  auto args = std::make_shared<PaviFitArgs>();
  fit->add_option("--model", args->model, "model name (gre, gamma-laplace, mixture, three-level)")
      ->capture_default_str();
  fit->add_option("--groups", args->groups, "number of groups G (three-level: subjects)")->capture_default_str();
  fit->add_option("--obs-per-group", args->obs_per_group, "observations per group N (three-level: locations)")
      ->capture_default_str();
  fit->add_option("--sessions", args->sessions, "three-level: sessions per subject")->capture_default_str();
  fit->add_option("--components", args->components, "mixture: number of components")->capture_default_str();
  fit->add_option("--batch", args->batch, "groups per step, at most --groups (default: min(1000, G))");
  fit->add_option("--encoding", args->encoding, "free (PAVI-F) or set (PAVI-E)")
      ->check(CLI::IsMember({"free", "set"}))
      ->capture_default_str();
  fit->add_option("--encoder", args->encoder, "set encoder of --encoding set: deepset or set-transformer")
      ->check(CLI::IsMember({"deepset", "set-transformer"}))
      ->capture_default_str();
  fit->add_option("--method", args->method,
                  "pavi, mean-field (AutoNormal baseline) or flow (non-amortized baseline: a flow per element)")
      ->check(CLI::IsMember({"pavi", "mean-field", "flow"}))
      ->capture_default_str();
  fit->add_option("--steps", args->steps, "optimisation steps")->capture_default_str();
  fit->add_option("--seed", args->seed, "seed of the data, initialisation and batches")->capture_default_str();
  fit->add_option("--lr", args->learning_rate, "initial Adam learning rate (decays 40x over the run)")
      ->capture_default_str();
  fit->add_option("--particles", args->particles, "Monte-Carlo particles per step (even: antithetic pairs)")
      ->capture_default_str();
  fit->add_option("--average-from", args->average_from,
                  "average the global sites' flows from this fraction of the run, moved later to whole epochs "
                  "(1: off; at large G run several epochs and average all but the first)")
      ->capture_default_str();
  fit->add_option("--local-average-from", args->local_average_from,
                  "average the set encoder and local flows from this fraction of the run (1: off)")
      ->capture_default_str();
  fit->add_option("--evaluate-groups", args->evaluate_groups, "groups whose posterior is checked against the exact one")
      ->capture_default_str();
  fit->add_option("--out", args->out, "output folder")->required();
  return [args] { return run_pavi_fit(*args); };
}

}  // namespace amortize::cli
