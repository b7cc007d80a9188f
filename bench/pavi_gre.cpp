// PAVI benchmarks on GRE (D = 2), each run printing one JSON object (with --out DIR, the
// experiments also write DIR/<mode>.json and DIR/<mode>.png, drawn by gnuplot):
//   pavi_gre accuracy   [--groups G] [--steps S]  experiment 1: PAVI-F, PAVI-E and mean-field against the
//                                                 exact posterior, at G = 10 and 1000 unless --groups is given
//   pavi_gre parameters                           experiment 2: parameter counts against G for PAVI-F, PAVI-E,
//                                                 mean-field and the non-amortized flow
//   pavi_gre time       [--groups G] [--seconds T] ELBO against wall time, PAVI-F vs mean-field:
//                                                 time until the smoothed ELBO is within 1 % of log p(x)
//   pavi_gre sweep      [--sizes 1e3,1e5,1e6,1e7] [--seconds T] experiment 3: ELBO against wall time at
//                                                 each G, PAVI (--encoding, default set) vs mean-field, each
//                                                 run stopped after T seconds (default 120): time until
//                                                 the smoothed ELBO is within 1 % of log p(x), exact errors
//   pavi_gre scale      [--groups G] [--steps S]  one large PAVI run: wall time, peak memory, ELBO
// Options: --obs N (observations per group, default 5), --batch B (1000), --encoding free|set,
// --draws S and --chunk C (scale: draws per group for the summaries, 4, and groups per chunk, 2e5),
// --seed S, --baseline no (time: PAVI only), --baseline-steps S (time: mean-field's budget),
// and the fit's settings --particles K, --average-from F (global sites, whole epochs),
// --local-average-from F (encoder and local flows), --reshuffle no, --antithetic no,
// --lr X, --final-lr X. One thread (OMP and OpenBLAS), float32 data.
#include "amortize/pavi/gre_fit.hpp"

#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>

using namespace amortize;
using namespace amortize::pavi;

namespace {
struct Args {
  std::string mode;
  std::string out_dir;  // --out: where the experiments write JSON and PNG
  bool groups_given = false;
  int64_t groups = 1000, obs = 5, batch = 1000, steps = 3000;
  int64_t baseline_steps = 0;  // time: the mean-field run's step budget (0: --steps)
  double seconds = 60;
  bool seconds_given = false;  // scale: a time limit on the fit only when given
  std::string encoding = "default";
  std::string sizes = "1e3,1e5,1e6,1e7";  // sweep
  int64_t draws = 4, chunk = 200000;      // scale: summaries of every group
  bool baseline = true;                   // time: also run mean-field
  uint64_t seed = 1;
  GreFitOptions fit;  // --particles, --average-from, --local-average-from, --reshuffle, --antithetic, --lr, --final-lr
};

Args parse(int argc, char** argv) {
  Args a;
  if (argc < 2) throw std::invalid_argument("usage: pavi_gre accuracy|parameters|time|scale [options]");
  a.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--groups") {
      a.groups = static_cast<int64_t>(std::stod(v));
      a.groups_given = true;
    } else if (k == "--out")
      a.out_dir = v;
    else if (k == "--obs")
      a.obs = std::stoll(v);
    else if (k == "--batch")
      a.batch = std::stoll(v);
    else if (k == "--steps")
      a.steps = std::stoll(v);
    else if (k == "--baseline-steps")
      a.baseline_steps = std::stoll(v);
    else if (k == "--seconds") {
      a.seconds = std::stod(v);
      a.seconds_given = true;
    } else if (k == "--draws")
      a.draws = std::stoll(v);
    else if (k == "--chunk")
      a.chunk = static_cast<int64_t>(std::stod(v));
    else if (k == "--sizes")
      a.sizes = v;
    else if (k == "--encoding")
      a.encoding = v;
    else if (k == "--seed")
      a.seed = std::stoull(v);
    else if (k == "--baseline")
      a.baseline = v != "no";
    else if (k == "--particles")
      a.fit.particles = std::stoll(v);
    else if (k == "--average-from")
      a.fit.average_from = std::stod(v);
    else if (k == "--local-average-from")
      a.fit.local_average_from = std::stod(v);
    else if (k == "--reshuffle")
      a.fit.reshuffle = v != "no";
    else if (k == "--antithetic")
      a.fit.antithetic = v != "no";
    else if (k == "--lr")
      a.fit.learning_rate = std::stod(v);
    else if (k == "--final-lr")
      a.fit.final_learning_rate = std::stod(v);
    else
      throw std::invalid_argument("unknown option " + k);
  }
  return a;
}

nlohmann::json summary(const GreFitResult& r, double log_evidence) {
  nlohmann::json s = {{"final_elbo", r.final_elbo},
          {"log_evidence", log_evidence},
          {"elbo_gap", log_evidence - r.final_elbo},
          {"steps", r.steps},
          {"train_seconds", r.train_seconds},
          {"ms_per_step", 1000 * r.train_seconds / static_cast<double>(r.steps)},
          {"moments_seconds", r.moments_seconds},
          {"n_parameters", r.n_parameters},
          {"latent_dims", r.latent_dims},
          {"peak_rss_mb", r.peak_rss_mb},
          {"mu_mean_error_sd", r.mu_mean_error_sd},
          {"mu_sd_rel_error", r.mu_sd_rel_error},
          {"mu_g_mean_error_sd_mean", r.mu_g_mean_error_sd_mean},
          {"mu_g_mean_error_sd_max", r.mu_g_mean_error_sd_max},
          {"mu_g_sd_rel_error_mean", r.mu_g_sd_rel_error_mean}};
  if (r.final_guide) {
    // The final (averaged) guide over every group, not the training iterates' estimates.
    s["final_guide_elbo"] = r.final_guide->elbo;
    s["final_guide_elbo_standard_error"] = r.final_guide->standard_error;
    s["final_guide_elbo_gap"] = log_evidence - r.final_guide->elbo;
    s["final_guide_elbo_gap_relative"] = (log_evidence - r.final_guide->elbo) / std::abs(log_evidence);
    s["final_guide_elbo_seconds"] = r.final_guide->seconds;
  }
  return s;
}

// First time the trailing 50-step mean of the ELBO is within `rel` of the reference.
double time_to_within(const GreFitResult& r, double reference, double rel) {
  const size_t w = 50;
  double sum = 0;
  for (size_t i = 0; i < r.elbo.size(); ++i) {
    sum += r.elbo[i];
    if (i >= w) sum -= r.elbo[i - w];
    const double avg = sum / static_cast<double>(std::min(i + 1, w));
    if (i + 1 >= w && std::abs(avg - reference) <= rel * std::abs(reference)) return r.seconds[i];
  }
  return -1;
}

// The relative gap of the trailing `window`-step mean of the ELBO to `reference` against wall
// time, at most 2000 points, one "seconds gap" line each; below the estimates' noise the gap is
// shown at `floor`.
std::string gap_curve(const GreFitResult& r, double reference, size_t window = 50, double floor = 1e-4) {
  std::ostringstream curve;
  const size_t every = std::max<size_t>(10, r.elbo.size() / 2000);
  double sum = 0;
  for (size_t i = 0; i < r.elbo.size(); ++i) {
    sum += r.elbo[i] - (i >= window ? r.elbo[i - window] : 0.0);
    if (i + 1 >= window && i % every == 0) {
      curve << r.seconds[i] << ' '
            << std::max(floor, (reference - sum / static_cast<double>(window)) / std::abs(reference)) << '\n';
    }
  }
  return curve.str();
}

// Writes DIR/<name>.data and a gnuplot script whose `DATA` is that file, runs gnuplot into
// DIR/<name>.png; a missing gnuplot is reported, not fatal.
void write_plot(const std::string& dir, const std::string& name, const std::string& data, std::string script) {
  const std::filesystem::path folder(dir);
  std::filesystem::create_directories(folder);
  const auto data_path = folder / (name + ".data"), script_path = folder / (name + ".gp");
  std::ofstream(data_path) << data;
  const std::string quoted = "'" + data_path.string() + "'";
  for (size_t at = script.find("DATA"); at != std::string::npos; at = script.find("DATA", at + quoted.size())) {
    script.replace(at, 4, quoted);
  }
  std::ofstream(script_path) << "set terminal pngcairo size 900,560 enhanced font 'DejaVu Sans,11'\nset output '"
                             << (folder / (name + ".png")).string() << "'\nset grid\n"
                             << script;
  if (std::system(("gnuplot '" + script_path.string() + "' 2> /dev/null").c_str()) != 0) {
    std::cerr << "pavi_gre: gnuplot failed; no " << name << ".png\n";
  }
}

GreFitOptions base(const Args& a, GreMethod m, Encoding e) {
  GreFitOptions o = a.fit;
  o.method = m;
  o.encoding = e;
  o.batch = a.batch;
  o.steps = a.steps;
  o.seed = a.seed;
  o.evaluate_groups = 100000;
  return o;
}
}  // namespace

int main(int argc, char** argv) {
  setenv("OPENBLAS_NUM_THREADS", "1", 0);
  at::set_num_threads(1);
  try {
    const Args a = parse(argc, argv);
    nlohmann::json out = {{"benchmark", "pavi_gre_" + a.mode},
                          {"groups", a.groups},
                          {"obs_per_group", a.obs},
                          {"batch", a.batch},
                          {"seed", a.seed}};
    GreDataOptions dopt;
    dopt.groups = a.groups;
    dopt.obs_per_group = a.obs;
    dopt.seed = a.seed;
    const std::vector<std::pair<GreMethod, Encoding>> all = {
        {GreMethod::Pavi, Encoding::Free}, {GreMethod::Pavi, Encoding::Set}, {GreMethod::MeanField, Encoding::Free}};
    if (a.mode == "accuracy") {
      std::vector<int64_t> sizes = a.groups_given ? std::vector<int64_t>{a.groups} : std::vector<int64_t>{10, 1000};
      out.erase("groups");
      std::ostringstream table;  // one row per (G, method): the four errors
      for (int64_t g : sizes) {
        dopt.groups = g;
        const auto data = generate_gre(dopt);
        const double le = gre_log_evidence(data.x);
        for (auto [m, e] : all) {
          auto o = base(a, m, e);
          o.draws = 4000;  // Monte-Carlo error of a group mean: 0.016 sd
          const auto r = fit_gre(data, o);
          out[std::to_string(g)][to_string(m, e)] = summary(r, le);
          table << '"' << to_string(m, e) << " G=" << g << "\" " << r.mu_mean_error_sd << ' ' << r.mu_sd_rel_error
                << ' ' << r.mu_g_mean_error_sd_mean << ' ' << r.mu_g_sd_rel_error_mean << '\n';
        }
      }
      if (!a.out_dir.empty()) {
        write_plot(
            a.out_dir, "accuracy", table.str(),
            "set style data histograms\nset style histogram clustered gap 1\nset style fill solid 0.8 border -1\n"
            "set ylabel 'error'\nset logscale y\nset yrange [1e-3:1]\nset key below\nset xtics rotate by -30\n"
            "set title 'GRE: errors against the exact posterior (means in exact sds, sds relative)'\n"
            "plot DATA using 2:xtic(1) title 'mu mean', '' using 3 title 'mu sd', "
            "'' using 4 title 'mu_g mean (average)', '' using 5 title 'mu_g sd (average)'\n");
      }
    } else if (a.mode == "parameters") {
      auto guides = all;
      guides.emplace_back(GreMethod::Pavi, Encoding::Unshared);  // the non-amortized flow
      for (int64_t g : {100, 1000, 10000, 100000, 1000000}) {
        dopt.groups = g;
        const auto data = generate_gre(dopt);
        for (auto [m, e] : guides) {
          auto o = base(a, m, e);
          o.steps = 1;
          o.evaluate_groups = 10;
          o.draws = 2;
          o.elbo_particles = 0;
          out["n_parameters"][to_string(m, e)][std::to_string(g)] = fit_gre(data, o).n_parameters;
        }
      }
      if (!a.out_dir.empty()) {
        std::ostringstream table;
        for (int64_t g : {100, 1000, 10000, 100000, 1000000}) {
          table << g;
          for (auto [m, e] : guides)
            table << ' ' << out["n_parameters"][to_string(m, e)][std::to_string(g)].get<int64_t>();
          table << '\n';
        }
        write_plot(a.out_dir, "parameters", table.str(),
                   "set logscale xy\nset xlabel 'groups G'\nset ylabel 'learnable parameters'\nset key top left\n"
                   "set title 'GRE: guide size against plate size'\n"
                   "plot DATA using 1:2 with linespoints lw 2 title 'PAVI-F (free encodings)', "
                   "'' using 1:3 with linespoints lw 2 title 'PAVI-E (set encoder)', "
                   "'' using 1:4 with linespoints lw 2 title 'mean-field AutoNormal', "
                   "'' using 1:5 with linespoints lw 2 title 'non-amortized flow'\n");
      }
    } else if (a.mode == "time") {
      const auto data = generate_gre(dopt);
      const double le = gre_log_evidence(data.x);
      out["seconds_budget"] = a.seconds;
      Encoding enc = a.encoding == "set" ? Encoding::Set : Encoding::Free;
      out["encoding"] = to_string(GreMethod::Pavi, enc);
      std::vector<std::pair<GreMethod, Encoding>> runs{{GreMethod::Pavi, enc}};
      if (a.baseline) runs.emplace_back(GreMethod::MeanField, Encoding::Free);
      for (auto [m, e] : runs) {
        auto o = base(a, m, e);
        if (m == GreMethod::MeanField && a.baseline_steps > 0) o.steps = a.baseline_steps;
        // The baseline as Pyro's reference runs it: one particle a step.
        if (m == GreMethod::MeanField) o.particles = 1;
        o.max_seconds = a.seconds;
        o.evaluate_groups = 10000;
        auto r = fit_gre(data, o);
        auto s = summary(r, le);
        s["seconds_to_1pct_of_log_evidence"] = time_to_within(r, le, 0.01);
        s["seconds_to_0.1pct_of_log_evidence"] = time_to_within(r, le, 0.001);
        out[to_string(m, e)] = s;
      }
    } else if (a.mode == "sweep") {
      out.erase("groups");
      if (a.encoding == "default") out["note"] = "PAVI-E (set encoder) unless --encoding free";
      const Encoding enc = a.encoding == "free" ? Encoding::Free : Encoding::Set;
      out["seconds_budget"] = a.seconds;
      std::ostringstream curves, times;  // gap against wall time per run; time to 1 % per G
      int64_t n_curves = 0;
      std::vector<std::string> titles;
      std::stringstream list(a.sizes);
      for (std::string item; std::getline(list, item, ',');) {
        dopt.groups = static_cast<int64_t>(std::stod(item));
        const auto data = generate_gre(dopt);
        const double le = gre_log_evidence(data.x);
        times << dopt.groups;
        for (auto [m, e] : std::vector<std::pair<GreMethod, Encoding>>{{GreMethod::Pavi, enc},
                                                                       {GreMethod::MeanField, Encoding::Free}}) {
          auto o = base(a, m, e);
          o.batch = std::min(a.batch, dopt.groups);
          if (m == GreMethod::MeanField) {
            o.particles = 1;  // as Pyro's reference runs it
            if (a.baseline_steps > 0) o.steps = a.baseline_steps;
          }
          o.max_seconds = a.seconds;
          o.evaluate_groups = 10000;
          const auto r = fit_gre(data, o);
          auto sm = summary(r, le);
          const double t1 = time_to_within(r, le, 0.01);
          sm["seconds_to_1pct_of_log_evidence"] = t1;
          sm["stopped_by_time_budget"] = r.steps < o.steps;
          out[std::to_string(dopt.groups)][to_string(m, e)] = sm;
          std::cerr << "sweep G=" << dopt.groups << " " << to_string(m, e) << ": " << r.steps << " steps, 1 % at " << t1
                    << " s, mu error " << r.mu_mean_error_sd << " sds\n";
          times << ' ' << (t1 < 0 ? std::string("NaN") : std::to_string(t1));
          curves << gap_curve(r, le) << "\n\n";
          titles.push_back(to_string(m, e) + " G=" + item);
          ++n_curves;
        }
        times << '\n';
      }
      if (!a.out_dir.empty()) {
        std::string script =
            "set logscale xy\nset xlabel 'wall time (s)'\nset ylabel '(log p(x) - ELBO) / |log p(x)|'\n"
            "set key outside right\nset yrange [1e-4:100]\n"
            "set title 'GRE: ELBO gap against wall time (floor 1e-4: below the noise)'\nplot ";
        for (int64_t i = 0; i < n_curves; ++i) {
          script += "DATA index " + std::to_string(i) + " using 1:2 with lines lw 2 dt " + std::to_string(i % 2 + 1) +
                    " lc " + std::to_string(i / 2 + 1) + " title '" + titles[static_cast<size_t>(i)] + "', ";
        }
        script += "0.01 with lines lc rgb 'black' lw 1 title '1 %'\n";
        write_plot(a.out_dir, "sweep", curves.str(), script);
        std::ofstream(std::filesystem::path(a.out_dir) / "sweep_times.data") << times.str();
      }
    } else if (a.mode == "scale") {
      const auto data = generate_gre(dopt);
      out["data_seconds_note"] = "data generated before the clock starts";
      const double le = gre_log_evidence(data.x);
      // Set encodings by default here: with 5e7 groups a free encoding is visited a handful of
      // times in an hour, while the set encoder generalises across groups.
      auto o = base(a, GreMethod::Pavi, a.encoding == "free" ? Encoding::Free : Encoding::Set);
      o.encoding_dim = 4;
      o.evaluate_groups = 0;  // every group, in chunks
      if (a.seconds_given) o.max_seconds = a.seconds;
      o.draws = a.draws;  // parent draws: local moments are Rao-Blackwellised
      o.chunk = a.chunk;
      auto r = fit_gre(data, o);
      out[to_string(o.method, o.encoding)] = summary(r, le);
      if (!a.out_dir.empty()) {
        // A batch is a tiny share of the groups: the steps' estimates are smoothed over 5 % of the run.
        const size_t window = std::max<size_t>(50, r.elbo.size() / 20);
        std::ostringstream script;
        script << "set logscale xy\nset xlabel 'wall time (s)'\nset ylabel '(log p(x) - ELBO) / |log p(x)|'\n"
               << "set key top right\nset format y '10^{%L}'\nset yrange [1e-7:100]\nset title 'GRE, G = " << a.groups << " (" << r.latent_dims
               << " latent dimensions), floor 1e-7'\nplot DATA using 1:2 with lines lw 2 title '"
               << to_string(o.method, o.encoding) << " training steps, trailing " << window << "-step mean'";
        if (r.final_guide) {
          script << ", " << std::max(1e-7, (le - r.final_guide->elbo) / std::abs(le))
                 << " with lines lw 2 dt 2 title 'final averaged guide, whole population'";
        }
        script << ", 0.01 with lines lc rgb 'black' lw 1 title '1 %'\n";
        write_plot(a.out_dir, "scale", gap_curve(r, le, window, 1e-7), script.str());
        std::ofstream trace(std::filesystem::path(a.out_dir) / "scale_trace.data");
        trace.precision(12);
        for (size_t i = 0; i < r.elbo.size(); ++i) trace << r.seconds[i] << ' ' << r.elbo[i] << '\n';
      }
    } else {
      throw std::invalid_argument("unknown mode " + a.mode);
    }
    std::cout << out.dump(2) << std::endl;
    if (!a.out_dir.empty()) std::ofstream(std::filesystem::path(a.out_dir) / (a.mode + ".json")) << out.dump(2) << "\n";
  } catch (const std::exception& e) {
    std::cerr << "pavi_gre: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
