// `amortize vae fit` trains the variational autoencoder on Fashion-MNIST and writes
// metrics.json, reconstructions.png, samples.png and the checkpoint (vae.pt + vae.json);
// `amortize vae encode` loads a checkpoint and writes the posterior means and sds of the latent
// code for the images of an IDX file.
#include "amortize/infer/checkpoint.hpp"
#include "amortize/io/output_folder.hpp"
#include "amortize/model/param_store.hpp"
#include "amortize/vae/fashion_mnist.hpp"
#include "amortize/vae/image_grid.hpp"
#include "amortize/vae/threads.hpp"
#include "amortize/vae/trainer.hpp"
#include "commands.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace amortize::cli {
namespace {
namespace fs = std::filesystem;

struct VaeFitArgs {
  std::string data = "fashion-mnist";
  int64_t epochs = 5;
  std::string objective = "elbo";
  int64_t particles = 0;  // 0: 1 for elbo, 5 for iwae
  int64_t batch_size = 256;
  double learning_rate = 1e-3;
  uint64_t seed = 1;
  int threads = 1;
  std::string parallel = "data";
  int64_t hidden = 400;  // units of the encoder's and the decoder's hidden layers
  int64_t latent = 50;   // dimension of z
  int64_t loglik_particles = 5000;
  int64_t loglik_images = 10000;
  std::string out;
  std::string resume;  // a fit's folder to continue
};

// The options that fix a fit's training; a resumed fit keeps its run's (vae.json's "fit").
const char* const kTrainingOptions[] = {"--data", "--objective", "--particles", "--batch-size", "--lr",
                                        "--seed", "--threads",   "--parallel",  "--hidden",     "--latent"};

struct VaeEncodeArgs {
  std::string from;
  std::string data;
  std::string out;
  int threads = 1;
};

at::Generator generator(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

nlohmann::json options_json(const vae::VaeOptions& o) {
  return {{"pixels", o.pixels}, {"hidden", o.hidden}, {"latent", o.latent}};
}

nlohmann::json fit_settings_json(const VaeFitArgs& a, int64_t particles) {
  // An absolute data folder, so that the fit resumes from any working directory.
  const std::string data = a.data == "fashion-mnist" ? a.data : fs::absolute(a.data).lexically_normal().string();
  return {{"data", data},          {"objective", a.objective}, {"particles", particles}, {"batch_size", a.batch_size},
          {"lr", a.learning_rate}, {"seed", a.seed},           {"threads", a.threads},   {"parallel", a.parallel}};
}

// `--resume DIR`: the training settings of the fit in DIR (its vae.json) replace a's; `given`
// lists the training options set on the command line, which must be left out.
void load_resumed(VaeFitArgs& a, const std::vector<std::string>& given) {
  if (!given.empty()) {
    throw std::invalid_argument(given.front() + ": a resumed fit keeps its run's setting (" + a.resume +
                                "/vae.json); leave it out");
  }
  std::error_code ec;
  if (!a.out.empty() && !fs::equivalent(a.out, a.resume, ec)) {
    throw std::invalid_argument("--out must be left out or equal the --resume folder");
  }
  const fs::path config_path = fs::path(a.resume) / "vae.json";
  std::ifstream in(config_path);
  if (!in) throw io::DataError(a.resume + ": no fit to resume (missing vae.json)");
  try {
    const auto config = nlohmann::json::parse(in);
    const auto& fit = config.at("fit");
    a.data = fit.at("data").get<std::string>();
    a.objective = fit.at("objective").get<std::string>();
    a.particles = fit.at("particles").get<int64_t>();
    a.batch_size = fit.at("batch_size").get<int64_t>();
    a.learning_rate = fit.at("lr").get<double>();
    a.seed = fit.at("seed").get<uint64_t>();
    a.threads = fit.at("threads").get<int>();
    a.parallel = fit.at("parallel").get<std::string>();
    a.hidden = config.at("model").at("hidden").get<int64_t>();
    a.latent = config.at("model").at("latent").get<int64_t>();
    if ((a.objective != "elbo" && a.objective != "iwae") || (a.parallel != "data" && a.parallel != "blas") ||
        a.particles < 1 || a.batch_size < 1 || !(a.learning_rate > 0) || a.threads < 1 || a.hidden < 1 ||
        a.latent < 1) {
      throw std::invalid_argument("a setting is out of range");
    }
  } catch (const std::exception& e) {
    throw io::DataError(config_path.string() + ": not the settings of a vae fit (" + infer::first_line(e) + ")");
  }
  a.out = a.resume;
}

int run_fit(VaeFitArgs a, const std::vector<std::string>& given) {
  if (a.epochs < 1) throw std::invalid_argument("--epochs must be at least 1");
  const bool resuming = !a.resume.empty();
  if (resuming) load_resumed(a, given);
  if (a.out.empty()) throw std::invalid_argument("--out is required (or --resume DIR)");
  const int64_t particles = a.particles > 0 ? a.particles : (a.objective == "iwae" ? 5 : 1);
  const auto dir = a.data == "fashion-mnist" ? std::string(vae::kFashionMnistDir) : a.data;
  const auto data = vae::load_fashion_mnist(dir);
  io::prepare_output_folder(a.out);
  // Training: T data-parallel workers with single-threaded BLAS each (--parallel data), or one
  // worker with T OpenBLAS threads (blas); evaluation always gives OpenBLAS the T threads.
  const bool data_parallel = a.parallel == "data";
  const int training_blas = data_parallel ? 1 : a.threads;
  const auto threads = vae::set_threads(training_blas);

  model::ParamStore store;
  model::ParamStoreScope scope(store);
  vae::VaeOptions options;
  options.hidden = a.hidden;
  options.latent = a.latent;
  vae::Vae net(options, generator(a.seed));
  vae::FitOptions fit;
  fit.batch_size = a.batch_size;
  fit.learning_rate = a.learning_rate;
  fit.objective = a.objective == "iwae" ? vae::BoundKind::ImportanceWeighted : vae::BoundKind::Elbo;
  fit.particles = particles;
  fit.seed = a.seed;
  fit.workers = data_parallel ? a.threads : 1;
  vae::VaeTrainer trainer(net, data.train, fit);
  const fs::path state_path = fs::path(a.out) / "trainer.pt", weights_path = fs::path(a.out) / "vae.pt";
  nlohmann::json epochs = nlohmann::json::array();  // every epoch's figures, resumed ones included
  if (resuming) {
    const std::string record = trainer.load_state(state_path.string());
    epochs = nlohmann::json::parse(record, nullptr, /*allow_exceptions=*/false);
    if (!epochs.is_array() || static_cast<int64_t>(epochs.size()) != trainer.epochs_done()) {
      throw infer::CheckpointError("checkpoint " + state_path.string() + ": its record of the epochs is damaged");
    }
    if (trainer.epochs_done() >= a.epochs) {
      throw std::invalid_argument("--epochs " + std::to_string(a.epochs) + ": the fit in " + a.out + " has trained " +
                                  std::to_string(trainer.epochs_done()) + " already (--epochs counts them all)");
    }
  } else {
    std::error_code ec;
    fs::remove(state_path, ec);  // an older fit's state in this folder must not pair with these settings
    io::write_file_atomically(fs::path(a.out) / "vae.json", nlohmann::json{{"model", options_json(options)},
                                                                           {"weights", "vae.pt"},
                                                                           {"trainer", "trainer.pt"},
                                                                           {"fit", fit_settings_json(a, particles)}}
                                                                    .dump(2) +
                                                                "\n");
  }

  nlohmann::json metrics;
  for (int64_t e = trainer.epochs_done(); e < a.epochs; ++e) {
    vae::set_threads(training_blas);
    const auto r = trainer.epoch();
    vae::set_threads(a.threads);
    const auto test = vae::evaluate(net, data.test, vae::BoundKind::Elbo, 1, generator(a.seed + 1000 + e));
    epochs.push_back({{"epoch", r.epoch},
                      {"seconds", r.seconds},
                      {"train_bound", r.train_bound},
                      {"test_elbo", test.per_image},
                      {"skipped_steps", r.skipped_steps}});
    // Every epoch: the weights, then the state to resume from (one file, renamed into place),
    // which commits the epoch: a crash between the two leaves the weights one epoch ahead.
    net.save(weights_path.string());
    trainer.save_state(state_path.string(), epochs.dump());
    std::cerr << "vae fit: epoch " << r.epoch << " in " << std::setprecision(4) << r.seconds << " s, train "
              << a.objective << " " << r.train_bound << ", test ELBO " << test.per_image << " nats per image";
    if (r.skipped_steps > 0) std::cerr << " (" << r.skipped_steps << " non-finite steps skipped)";
    std::cerr << "\n";
    metrics["train_elbo"] = r.train_bound;
    metrics["test_elbo"] = test.per_image;
  }
  metrics["epochs"] = epochs;
  std::vector<double> seconds;
  for (const auto& e : epochs) seconds.push_back(e.at("seconds").get<double>());
  std::vector<double> sorted = seconds;
  std::sort(sorted.begin(), sorted.end());
  metrics["seconds_per_epoch"] = sorted[sorted.size() / 2];
  metrics["seconds_per_epoch_all"] = seconds;
  metrics["skipped_steps"] = trainer.skipped_steps();
  metrics["objective"] = a.objective;
  metrics["particles"] = particles;
  metrics["batch_size"] = a.batch_size;
  metrics["learning_rate"] = a.learning_rate;
  metrics["seed"] = a.seed;
  metrics["threads"] = {{"requested", a.threads},
                        {"parallel", a.parallel},
                        {"workers", fit.workers},
                        {"openblas_training", threads.openblas},
                        {"openmp", threads.openmp}};
  metrics["model"] = options_json(options);
  metrics["units"] = "nats per image; train_elbo is the training objective averaged over the last epoch";
  if (a.loglik_images > 0 && a.loglik_particles > 0) {
    const auto images = data.test.slice(0, 0, std::min<int64_t>(a.loglik_images, data.test.size(0)));
    std::cerr << "vae fit: test log-likelihood by importance sampling, K = " << a.loglik_particles << " on "
              << images.size(0) << " images\n";
    const auto ll =
        vae::evaluate(net, images, vae::BoundKind::ImportanceWeighted, a.loglik_particles, generator(a.seed + 2000));
    const std::string key = "test_loglik_is" + std::to_string(a.loglik_particles);
    metrics[key] = ll.per_image;
    metrics[key + "_images"] = ll.images;
    metrics[key + "_seconds"] = ll.seconds;
  }

  // Reconstructions: rows of up to 16 test images, each followed by its reconstruction (pixel
  // means at the posterior mean); samples: 64 draws z ~ N(0, I), shown as pixel means.
  const int64_t per_row = std::max<int64_t>(1, std::min<int64_t>(16, data.test.size(0) / 2));
  const auto originals = data.test.slice(0, 0, 2 * per_row);
  const auto recon = net.decode_probs(net.encode(originals).first);
  const auto grid = at::cat({originals.slice(0, 0, per_row), recon.slice(0, 0, per_row),
                             originals.slice(0, per_row, 2 * per_row), recon.slice(0, per_row, 2 * per_row)});
  vae::write_png_grid((fs::path(a.out) / "reconstructions.png").string(), grid, per_row);
  const auto z = at::randn({64, options.latent}, generator(a.seed + 3000), data.test.options());
  vae::write_png_grid((fs::path(a.out) / "samples.png").string(), net.decode_probs(z), 8);

  io::write_file_atomically(fs::path(a.out) / "metrics.json", metrics.dump(2) + "\n");
  std::cout << "vae fit: " << a.epochs << " epochs" << (resuming ? " (resumed)" : "") << ", "
            << metrics["seconds_per_epoch"].get<double>() << " s per epoch, test ELBO "
            << metrics["test_elbo"].get<double>() << " nats per image; wrote "
            << (fs::path(a.out) / "metrics.json").string() << "\n";
  return 0;
}

int run_encode(const VaeEncodeArgs& a) {
  vae::set_threads(a.threads);
  const auto config_path = fs::path(a.from) / "vae.json";
  std::ifstream config_file(config_path);
  if (!config_file) throw io::DataError("vae encode: no checkpoint in '" + a.from + "' (missing vae.json)");
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(config_file);
  } catch (const std::exception&) {
    throw io::DataError("vae encode: '" + config_path.string() + "' is not valid JSON");
  }
  vae::VaeOptions options;
  try {
    options.pixels = config.at("model").at("pixels").get<int64_t>();
    options.hidden = config.at("model").at("hidden").get<int64_t>();
    options.latent = config.at("model").at("latent").get<int64_t>();
    if (options.pixels < 1 || options.hidden < 1 || options.latent < 1) throw std::invalid_argument("a size below 1");
  } catch (const std::exception& e) {
    throw io::DataError("vae encode: '" + config_path.string() + "' does not give the model's sizes (" +
                        infer::first_line(e) + ")");
  }
  vae::Vae net(options, generator(0));
  net.load((fs::path(a.from) / config.value("weights", "vae.pt")).string());
  const auto images = vae::read_images(a.data, options.pixels);
  auto [loc, scale] = net.encode(images);
  loc = loc.to(at::kDouble).contiguous();
  scale = scale.to(at::kDouble).contiguous();
  std::ostringstream csv;
  csv << "image";
  for (const char* what : {"mean", "sd"}) {
    for (int64_t j = 1; j <= options.latent; ++j) csv << ',' << what << '[' << j << ']';
  }
  csv << '\n' << std::setprecision(8);
  auto l = loc.accessor<double, 2>();
  auto s = scale.accessor<double, 2>();
  for (int64_t i = 0; i < loc.size(0); ++i) {
    csv << i + 1;
    for (int64_t j = 0; j < options.latent; ++j) csv << ',' << l[i][j];
    for (int64_t j = 0; j < options.latent; ++j) csv << ',' << s[i][j];
    csv << '\n';
  }
  const auto out = a.out.empty() ? fs::path(a.from) / "encodings.csv" : fs::path(a.out);
  io::write_file_atomically(out, csv.str());
  std::cout << "vae encode: " << loc.size(0) << " images; wrote " << out.string() << "\n";
  return 0;
}

}  // namespace

Runner add_vae_command(CLI::App& app) {
  auto* vae_cmd = app.add_subcommand("vae", "Variational autoencoder on binarised images (Fashion-MNIST)");
  vae_cmd->require_subcommand(1);
  auto fit_args = std::make_shared<VaeFitArgs>();
  auto* fit = vae_cmd->add_subcommand("fit", "Train the VAE; writes metrics.json, PNG grids and the checkpoint");
  fit->add_option(
         "--data", fit_args->data,
         "'fashion-mnist' (Debian's dataset-fashion-mnist) or a folder with IDX files of its names (28 x 28 images)")
      ->capture_default_str();
  fit->add_option("--epochs", fit_args->epochs, "Passes over the 60,000 training images")->capture_default_str();
  fit->add_option("--objective", fit_args->objective, "elbo or iwae (importance-weighted, per image)")
      ->check(CLI::IsMember({"elbo", "iwae"}))
      ->capture_default_str();
  fit->add_option("--particles", fit_args->particles, "Monte-Carlo particles K (default 1 for elbo, 5 for iwae)")
      ->check(positive());
  fit->add_option("--batch-size", fit_args->batch_size, "Images per step")->check(positive())->capture_default_str();
  fit->add_option("--lr", fit_args->learning_rate, "Adam learning rate")->check(positive())->capture_default_str();
  fit->add_option("--seed", fit_args->seed, "Random seed")->capture_default_str();
  fit->add_option("--threads", fit_args->threads, "Threads (LibTorch's OpenMP pool stays at 1)")
      ->check(positive())
      ->capture_default_str();
  fit->add_option("--parallel", fit_args->parallel,
                  "How training uses the threads: data (split each batch, one-thread BLAS each) or blas")
      ->check(CLI::IsMember({"data", "blas"}))
      ->capture_default_str();
  fit->add_option("--hidden", fit_args->hidden, "Units of the encoder's and the decoder's hidden layer")
      ->check(positive())
      ->capture_default_str();
  fit->add_option("--latent", fit_args->latent, "Dimension of the latent code z")
      ->check(positive())
      ->capture_default_str();
  fit->add_option("--loglik-particles", fit_args->loglik_particles, "Importance samples per test image (0: skip)")
      ->check(non_negative())
      ->capture_default_str();
  fit->add_option("--loglik-images", fit_args->loglik_images, "Test images for the log-likelihood estimate (0: skip)")
      ->check(non_negative())
      ->capture_default_str();
  fit->add_option("--out", fit_args->out, "Output folder (required unless --resume)");
  fit->add_option(
      "--resume", fit_args->resume,
      "Continue the fit in this folder to --epochs in all, with its settings (the training options must be left out)");
  auto encode_args = std::make_shared<VaeEncodeArgs>();
  auto* encode = vae_cmd->add_subcommand("encode", "Posterior means and sds of the latent code for new images");
  encode->add_option("--from", encode_args->from, "Folder of a `vae fit` run")->required();
  encode->add_option("--data", encode_args->data, "IDX image file (N x 28 x 28, uint8 or float; .gz allowed)")
      ->required();
  encode->add_option("--out", encode_args->out, "CSV file (default: FROM/encodings.csv)");
  encode->add_option("--threads", encode_args->threads, "OpenBLAS threads")->check(positive());
  return [fit, fit_args, encode_args] {
    if (!fit->parsed()) return run_encode(*encode_args);
    std::vector<std::string> given;
    for (const char* name : kTrainingOptions) {
      if (fit->get_option(name)->count() > 0) given.push_back(name);
    }
    return run_fit(*fit_args, given);
  };
}

}  // namespace amortize::cli
