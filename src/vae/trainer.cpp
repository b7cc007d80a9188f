#include "amortize/vae/trainer.hpp"

#include "amortize/dist/validation.hpp"
#include "amortize/infer/checkpoint.hpp"
#include "amortize/infer/optim/adam.hpp"
#include "amortize/infer/trainer.hpp"
#include "amortize/model/handlers.hpp"
#include "amortize/model/module.hpp"
#include "amortize/model/param_store.hpp"
#include "amortize/vae/fused_ops.hpp"
#include "amortize/vae/row_shares.hpp"
#include "kernels.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <malloc.h>
#include <time.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <optional>

namespace amortize::vae {
namespace {
// Flushes denormal floats to zero for a scope (this thread): Adam's second moments and
// softplus of very negative inputs otherwise hit the CPU's slow denormal path.
class FlushDenormalScope {
 public:
  explicit FlushDenormalScope(bool enabled) : enabled_(enabled) {
    if (enabled_) enabled_ = at::globalContext().setFlushDenormal(true);
  }
  ~FlushDenormalScope() {
    if (enabled_) at::globalContext().setFlushDenormal(false);
  }
  FlushDenormalScope(const FlushDenormalScope&) = delete;
  FlushDenormalScope& operator=(const FlushDenormalScope&) = delete;

 private:
  bool enabled_;
};

// Every step allocates and frees the same few hundred kilobyte-sized tensors; glibc's default
// returns them to the kernel (heap trimming, mmap above its threshold), and the kernel then
// zeroes fresh pages on the next step: 15 % of an epoch. Keep freed memory in the process
// (process-wide, like any allocator setting; the peak resident size stays one step's worth).
void keep_freed_memory() {
#ifdef M_TRIM_THRESHOLD
  static const bool done = [] {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    return true;
  }();
  (void)done;
#endif
}

// dst = src.index_select(0, indices) into dst's storage; a memcpy per row for contiguous CPU
// tensors (index_select takes about four times longer on the VAE's 256 random rows).
void gather_rows(const Tensor& src, const Tensor& indices, Tensor& dst) {
  dst.resize_({indices.size(0), src.size(1)});
  if (!src.device().is_cpu() || !src.is_contiguous() || !dst.is_contiguous() || indices.scalar_type() != at::kLong) {
    at::index_select_out(dst, src, 0, indices);
    return;
  }
  const Tensor idx = indices.contiguous();
  const int64_t* rows = idx.data_ptr<int64_t>();
  const size_t row_bytes = static_cast<size_t>(src.size(1)) * src.element_size();
  const auto* from = static_cast<const char*>(src.data_ptr());
  auto* to = static_cast<char*>(dst.data_ptr());
  for (int64_t i = 0; i < idx.numel(); ++i) {
    if (rows[i] < 0 || rows[i] >= src.size(0)) throw std::out_of_range("VaeTrainer: row index out of range");
    std::memcpy(to + static_cast<size_t>(i) * row_bytes, from + static_cast<size_t>(rows[i]) * row_bytes, row_bytes);
  }
}

// The images as bytes when they are float32 0/1 values on the CPU (binarised, as the VAE's
// data), else undefined: a step then gathers a quarter of the memory (its rows are random, so
// they come from DRAM: 1 % of an epoch as floats).
Tensor binary_bytes(const Tensor& images) {
  if (images.scalar_type() != at::kFloat || !images.device().is_cpu() || !images.is_contiguous()) return {};
  Tensor bytes = images.to(at::kByte);
  return at::equal(bytes.to(at::kFloat), images) ? bytes : Tensor();
}

// dst (float32) = rows `indices` of the 0/1 bytes.
void gather_byte_rows(const Tensor& bytes, const Tensor& indices, Tensor& dst) {
  dst.resize_({indices.size(0), bytes.size(1)});
  const Tensor idx = indices.contiguous();
  const int64_t* rows = idx.data_ptr<int64_t>();
  const int64_t cols = bytes.size(1);
  const uint8_t* from = bytes.data_ptr<uint8_t>();
  float* to = dst.data_ptr<float>();
  for (int64_t i = 0; i < idx.numel(); ++i) {
    if (rows[i] < 0 || rows[i] >= bytes.size(0)) throw std::out_of_range("VaeTrainer: row index out of range");
    const uint8_t* src = from + rows[i] * cols;
    float* out = to + i * cols;
    for (int64_t j = 0; j < cols; ++j) out[j] = static_cast<float>(src[j]);
  }
}

// Sum of a detached per-datum bound without a LibTorch dispatch for contiguous float/double CPU tensors.
double sum_of(const Tensor& t) {
  if (t.device().is_cpu() && t.is_contiguous() && t.scalar_type() == at::kFloat) {
    const float* p = t.data_ptr<float>();
    double total = 0.0;
    for (int64_t i = 0; i < t.numel(); ++i) total += p[i];
    return total;
  }
  return t.sum().item<double>();
}

// True when t holds no infinite or NaN value (one pass over contiguous float32 CPU tensors).
bool all_finite(const Tensor& t) {
  if (t.device().is_cpu() && t.is_contiguous() && t.scalar_type() == at::kFloat) {
    return kernels::all_finite(t.data_ptr<float>(), t.numel());
  }
  return t.isfinite().all().item<bool>();
}

// Chunks of the parameters' elements per worker in a data-parallel Adam update with fresh
// weight gradients (each still a few tens of kilobytes of every array); else row shares.
constexpr int64_t kAdamChunksPerWorker = 8;

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}
}  // namespace

VaeTrainer::VaeTrainer(Vae& vae, Tensor images, FitOptions options)
    : vae_(vae),
      images_(std::move(images)),
      options_(options),
      generator_(at::make_generator<at::CPUGeneratorImpl>(options.seed)),
      bounds_(1, LocalBound(options.objective, options.particles)) {
  if (images_.dim() != 2 || images_.size(1) != vae_.options().pixels || images_.size(0) < 1) {
    throw std::invalid_argument("VaeTrainer: images must have shape (N, " + std::to_string(vae_.options().pixels) +
                                "), got " + dist::shape_string(images_.sizes()));
  }
  if (options_.batch_size < 1) throw std::invalid_argument("VaeTrainer: batch size must be positive");
  set_workers(options_.workers);
  if (!(options_.learning_rate > 0)) throw std::invalid_argument("VaeTrainer: learning rate must be positive");
  for (double speed : options_.share_speeds) {
    if (!(speed > 0.0) || !std::isfinite(speed)) {
      throw std::invalid_argument("VaeTrainer: share_speeds must be positive and finite, got " + std::to_string(speed));
    }
  }
  if (options_.max_consecutive_nonfinite < 1) {
    throw std::invalid_argument("VaeTrainer: max_consecutive_nonfinite must be positive");
  }
  image_bytes_ = binary_bytes(images_);
  keep_freed_memory();
}

VaeTrainer::~VaeTrainer() = default;

void VaeTrainer::set_workers(int64_t workers) {
  if (workers < 1) throw std::invalid_argument("VaeTrainer: workers must be at least 1");
  options_.workers = workers;
  while (bounds_.size() < static_cast<size_t>(workers)) bounds_.emplace_back(options_.objective, options_.particles);
  grads_.resize(static_cast<size_t>(workers));
  deferred_.resize(static_cast<size_t>(workers));
  product_bounds_.resize(static_cast<size_t>(workers));
  nonfinite_.resize(static_cast<size_t>(workers));
  while (batches_.size() < static_cast<size_t>(workers))
    batches_.push_back(at::empty({0, images_.size(1)}, images_.options()));
  if (!pool_ || pool_->size() != workers) pool_ = std::make_unique<WorkerPool>(workers);
}

int64_t VaeTrainer::step_part(int64_t part, const Tensor& x, const Tensor& indices, int64_t n, double weight,
                              at::Generator& generator, model::ParamStore* store, bool defer) {
  std::optional<model::ParamStoreScope> scope;
  if (store) scope.emplace(*store);  // a worker thread: the store is per thread
  Tensor loss;
  {
    model::SeedHandler seed(generator);
    loss =
        bounds_[static_cast<size_t>(part)].loss([&] { vae_.model(x, indices, n); }, [&] { vae_.guide(x, indices, n); });
  }
  if (params_.empty()) {  // the first step (one part): the model and guide registered them
    collect_parameters();
    make_weight_buffers();
  }
  if (weight != 1.0) loss = loss * weight;
  // Into the weights' buffers; with several workers the products are only recorded here, and each
  // worker runs its rows of them all once every backward pass is done (run_shared_products).
  std::optional<WeightGradientScope> into_buffers;
  if (!options_.fresh_weight_gradients) into_buffers.emplace(weights_, weight_grad_buffers_, defer);
  grads_[static_cast<size_t>(part)] =
      torch::autograd::grad({loss}, params_, /*grad_outputs=*/{}, /*retain_graph=*/false,
                            /*create_graph=*/false, /*allow_unused=*/true);
  if (defer) deferred_[static_cast<size_t>(part)] = into_buffers->take_deferred();
  return into_buffers ? into_buffers->first_nonfinite() : -1;
}

void VaeTrainer::make_weight_buffers() {
  if (!weight_grad_buffers_.empty() || options_.fresh_weight_gradients) return;
  for (const auto& w : weights_) weight_grad_buffers_.push_back(at::zeros_like(w, at::MemoryFormat::Contiguous));
}

void VaeTrainer::share_parameters(int64_t parts) {
  row_layouts_.clear();
  for (const auto& p : params_) {
    const bool matrix = p.dim() == 2;
    row_layouts_.push_back({matrix ? p.size(0) : p.numel(), matrix ? p.size(1) : 1, matrix});
  }
  if (options_.share_speeds.empty()) {
    share_speeds_.assign(static_cast<size_t>(parts), 1.0);
  } else if (static_cast<int64_t>(options_.share_speeds.size()) == parts) {
    share_speeds_ = options_.share_speeds;
  } else {
    throw std::invalid_argument("VaeTrainer: share_speeds has " + std::to_string(options_.share_speeds.size()) +
                                " entries for " + std::to_string(parts) + " workers");
  }
  shares_ = share_rows(row_layouts_, share_speeds_);
  shares_for_parts_ = parts;
}

int64_t VaeTrainer::add_share_products(const RowShare& share) {
  const int64_t i = weight_of_param_[share.param];
  if (i < 0) return i;
  Tensor& buffer = weight_grad_buffers_[static_cast<size_t>(i)];
  // The workers' rows in worker order: the buffer holds the same sum, in the same order, as
  // the optimiser's pass would make of per-worker gradients.
  for (const auto& products : deferred_) {
    for (const auto& p : products) {
      if (p.index == static_cast<size_t>(i)) add_weight_gradient(p.dy, p.x, buffer, share.begin, share.end);
    }
  }
  return i;
}

void VaeTrainer::update_share(const RowShare& share) const {
  const int64_t row_size = row_layouts_[share.param].row_size;
  adam_->update_parameter_range(share.param, share.begin * row_size, share.end * row_size);
}

std::string VaeTrainer::run_shared_products(int64_t worker) {
  std::string nonfinite;
  for (const RowShare& share : shares_[static_cast<size_t>(worker)]) {
    const int64_t i = add_share_products(share);
    if (i >= 0 && nonfinite.empty() &&
        !all_finite(weight_grad_buffers_[static_cast<size_t>(i)].slice(0, share.begin, share.end))) {
      nonfinite = "gradient of '" + weight_names_[static_cast<size_t>(i)] + "'";
    }
  }
  return nonfinite;
}

void VaeTrainer::bound_products(int64_t worker) {
  auto& bounds = product_bounds_[static_cast<size_t>(worker)];
  bounds.assign(weights_.size(), 0.0);
  // Activations feed several products (the hidden layer both of the encoder's heads): each once.
  // The images' rows hold 0 and 1 when they have a byte copy (a pass over them saved).
  std::vector<std::pair<const void*, double>> seen;
  if (image_bytes_.defined()) seen.emplace_back(batches_[static_cast<size_t>(worker)].data_ptr(), 1.0);
  auto largest = [&](const Tensor& t) {
    for (const auto& [data, value] : seen) {
      if (data == t.data_ptr()) return value;
    }
    const double value = kernels::max_abs(t.data_ptr<float>(), t.numel());
    seen.emplace_back(t.data_ptr(), value);
    return value;
  };
  for (const auto& p : deferred_[static_cast<size_t>(worker)]) {
    bounds[p.index] += static_cast<double>(p.dy.size(0)) * p.dy_max_abs * largest(p.x);
  }
}

bool VaeTrainer::products_surely_finite() const {
  // |sum_r dy_ri x_rj| <= sum over the products of rows * max|dy| * max|x|; float rounding adds
  // a relative (1 + 2^-24)^rows at most, far inside the margin to FLT_MAX (3.4e38).
  constexpr double kLimit = 1e38;
  for (size_t i = 0; i < weights_.size(); ++i) {
    double bound = 0.0;
    for (const auto& worker : product_bounds_) bound += worker.empty() ? 0.0 : worker[i];
    if (!(bound < kLimit)) return false;
  }
  return true;
}

void VaeTrainer::run_products_and_updates(int64_t worker) {
  const auto& shares = shares_[static_cast<size_t>(worker)];
  // In share_rows' order, odd workers' small matrices first: their large weight's update then
  // falls while the other worker still computes, not while it streams its own update too.
  for (const RowShare& share : shares) {
    add_share_products(share);
    update_share(share);
  }
}

void VaeTrainer::update_shared_parameters(int64_t worker) const {
  for (const RowShare& share : shares_[static_cast<size_t>(worker)]) update_share(share);
}

void VaeTrainer::collect_parameters() {
  auto& active = model::active_param_store();
  for (const auto& name : active.names()) {
    param_names_.push_back(name);
    params_.push_back(active.entry(name).unconstrained);
    weight_of_param_.push_back(params_.back().dim() == 2 ? static_cast<int64_t>(weights_.size()) : -1);
    if (params_.back().dim() == 2) {
      weights_.push_back(params_.back());
      weight_names_.push_back(name);
    }
  }
}

void VaeTrainer::make_optimizer() {
  adam_ = std::make_unique<infer::optim::Adam>(options_.learning_rate);
  for (size_t i = 0; i < params_.size(); ++i) adam_->add_parameter(param_names_[i], params_[i]);
}

void VaeTrainer::save_state(const std::string& path, const std::string& record) const {
  torch::serialize::OutputArchive archive;
  std::map<std::string, Tensor> params;
  for (size_t i = 0; i < params_.size(); ++i) params.emplace(param_names_[i], params_[i]);
  infer::write_named_tensors(archive, "params", params);
  archive.write("record", c10::IValue(record));
  if (adam_) {
    torch::serialize::OutputArchive optimizer;
    adam_->save(optimizer);
    archive.write("optimizer", optimizer);
  }
  archive.write("rng", generator_.get_state(), /*is_buffer=*/true);
  archive.write("epochs", c10::IValue(epochs_));
  archive.write("skipped", c10::IValue(skipped_steps_));
  archive.write("consecutive_nonfinite", c10::IValue(consecutive_nonfinite_));
  infer::write_checkpoint(archive, path);
}

std::string VaeTrainer::load_state(const std::string& path) {
  if (epochs_ > 0 || !params_.empty()) throw std::logic_error("VaeTrainer::load_state: only before the first step");
  torch::serialize::InputArchive archive;
  infer::read_checkpoint(archive, path);
  auto refuse = [&](const std::string& why) { return infer::CheckpointError("checkpoint " + path + ": " + why); };
  // Everything is read and checked before anything of this trainer changes.
  std::map<std::string, Tensor> saved;
  Tensor rng;
  c10::IValue epochs, skipped, consecutive, record;
  torch::serialize::InputArchive optimizer;
  bool has_optimizer = false;
  try {
    saved = infer::read_named_tensors(archive, "params");
    has_optimizer = archive.try_read("optimizer", optimizer);
    archive.read("rng", rng);
    archive.read("record", record);
    archive.read("epochs", epochs);
    archive.read("skipped", skipped);
    archive.read("consecutive_nonfinite", consecutive);
  } catch (const std::exception& e) {
    throw refuse("not a VAE trainer's state (" + infer::first_line(e) + ")");
  }
  if (!record.isString() || !epochs.isInt() || !skipped.isInt() || !consecutive.isInt()) {
    throw refuse("not a VAE trainer's state (a counter or the record has the wrong type)");
  }
  const Tensor generator_before = generator_.get_state();
  try {  // first, as the one step that can still fail without changing anything else
    std::lock_guard<std::mutex> lock(generator_.mutex());
    generator_.set_state(rng);
  } catch (const std::exception& e) {
    throw refuse("its generator state does not fit (" + infer::first_line(e) + ")");
  }
  if (!saved.empty()) {  // else saved before the first step: that step registers the parameters
    // The parameters as the model and guide register them (model::module), in the active store.
    model::register_module_parameters("encoder", *vae_.encoder().ptr());
    model::register_module_parameters("decoder", *vae_.decoder().ptr());
    collect_parameters();
    try {
      for (size_t i = 0; i < params_.size(); ++i) {
        const auto it = saved.find(param_names_[i]);
        if (it == saved.end() || it->second.sizes() != params_[i].sizes()) {
          throw refuse("parameter '" + param_names_[i] + (it == saved.end() ? "' is missing" : "' has another shape"));
        }
      }
      if (has_optimizer) {
        make_optimizer();
        adam_->load(optimizer);
      }
    } catch (const std::exception& e) {
      params_.clear();
      param_names_.clear();
      weight_of_param_.clear();
      weights_.clear();
      weight_names_.clear();
      adam_.reset();
      generator_.set_state(generator_before);
      if (dynamic_cast<const infer::CheckpointError*>(&e)) throw;
      throw refuse("its optimiser state does not fit (" + infer::first_line(e) + ")");
    }
    at::NoGradGuard no_grad;
    for (size_t i = 0; i < params_.size(); ++i) params_[i].copy_(saved.at(param_names_[i]));
  }
  epochs_ = epochs.toInt();
  skipped_steps_ = skipped.toInt();
  consecutive_nonfinite_ = consecutive.toInt();
  return record.toStringRef();
}

// What a step's workers share while they run it.
struct VaeTrainer::StepWork {
  Tensor indices;
  int64_t parts = 1;
  bool defer = false;                  // products wait for all rows (run_shared_products)
  std::vector<at::Generator> gens;     // per worker, with more than one
  model::ParamStore* store = nullptr;  // the calling thread's active store, for the other workers
  std::vector<std::exception_ptr> errors;
  std::vector<double> bounds, cpu;
  // Per worker, when it began and ended its products and updates (rebalance_shares).
  std::vector<std::chrono::steady_clock::time_point> update_begun, update_done;
  bool failed = false, skipped = false, begun = false, early = false;
  int64_t chunks = 1;
  std::atomic<int64_t> next_chunk{0};
};

void VaeTrainer::prepare_step(StepWork& work, const Tensor& indices, int64_t parts) {
  work.indices = indices;
  work.parts = parts;
  work.store = &model::active_param_store();
  // Part w of the rows runs on worker w with its own generator seeded from the trainer's; the
  // parts' losses are weighted by their share of the batch, so the summed gradient is the batch's.
  // (Reseeding the last step's generators skips an allocation on the workers' critical path.)
  if (parts > 1) {
    auto* impl = at::check_generator<at::CPUGeneratorImpl>(generator_);
    std::lock_guard<std::mutex> lock(generator_.mutex());
    while (work.gens.size() < static_cast<size_t>(parts))
      work.gens.push_back(at::make_generator<at::CPUGeneratorImpl>());
    work.gens.resize(static_cast<size_t>(parts));
    for (auto& gen : work.gens) gen.set_current_seed(impl->random64());
  } else {
    work.gens.clear();
  }
  work.errors.assign(static_cast<size_t>(parts), nullptr);
  work.bounds.assign(static_cast<size_t>(parts), 0.0);
  work.cpu.assign(static_cast<size_t>(parts), 0.0);
  work.update_begun.resize(static_cast<size_t>(parts));
  work.update_done.resize(static_cast<size_t>(parts));
  work.failed = work.skipped = work.begun = work.early = false;
  work.chunks = parts == 1 ? 1 : parts * kAdamChunksPerWorker;
  work.next_chunk.store(0, std::memory_order_relaxed);
  work.defer = parts > 1 && !options_.fresh_weight_gradients;
  if (!params_.empty()) make_weight_buffers();  // (a trainer whose state was loaded has none yet)
  if (work.defer && shares_for_parts_ != parts) share_parameters(parts);
}

void VaeTrainer::rebalance_shares(const StepWork& work) {
  const auto start = *std::min_element(work.update_begun.begin(), work.update_begun.end());
  std::vector<double> seconds;
  for (const auto& done : work.update_done) seconds.push_back(std::chrono::duration<double>(done - start).count());
  share_speeds_ = rebalanced_weights(std::move(share_speeds_), seconds);
  shares_ = share_rows(row_layouts_, share_speeds_);
}

bool VaeTrainer::begin_update(StepWork& work) {
  for (const auto& e : work.errors) work.failed = work.failed || e;
  if (work.failed) return false;  // finish_step rethrows the worker's error
  for (const auto& reason : nonfinite_) work.skipped = work.skipped || !reason.empty();
  if (work.skipped) return false;  // no update: finish_step counts the step as skipped
  try {
    if (!adam_) make_optimizer();
    std::vector<std::vector<Tensor>> worker_grads(grads_.begin(), grads_.begin() + work.parts);
    for (size_t u = 1; u < worker_grads.size(); ++u) {  // a shared buffer counts once
      for (auto& g : worker_grads[u]) {
        if (g.defined() && is_weight_buffer(g)) g = Tensor();
      }
    }
    // The buffers are zeroed in the same pass, ready for the next step.
    adam_->begin_partitioned_step(param_names_, worker_grads, 1.0,
                                  /*zero_gradients=*/!options_.fresh_weight_gradients);
    return true;
  } catch (...) {
    work.failed = true;
    work.errors[0] = std::current_exception();
    return false;
  }
}

void VaeTrainer::run_step_part(StepWork& work, WorkerPool& pool, int64_t w, int64_t n) {
  const auto part = static_cast<size_t>(w);
  // The denormal mode is per thread (worker 0's is the epoch's), and covers the optimiser's
  // pass too: Adam's second moments of idle weights decay into denormals.
  std::optional<FlushDenormalScope> flush;
  if (w != 0) flush.emplace(options_.flush_denormal);
  const double cpu_start = thread_cpu_seconds();
  auto& grads = grads_[part];
  std::string& nonfinite = nonfinite_[part];
  auto no_errors = [&] {
    return std::none_of(work.errors.begin(), work.errors.end(), [](const auto& e) { return bool(e); });
  };
  try {
    grads.clear();
    nonfinite.clear();
    deferred_[part].clear();  // the last step's, which every worker is done with
    const int64_t rows = work.indices.size(0);
    const int64_t a = rows * w / work.parts, b = rows * (w + 1) / work.parts;
    if (a < b) {
      // Each worker gathers its rows into its own buffer, the same every step (the previous
      // step's graph, which saved it, is gone).
      const Tensor part_indices = work.indices.slice(0, a, b);
      Tensor& x = batches_[part];
      if (image_bytes_.defined() && x.is_contiguous() && part_indices.scalar_type() == at::kLong) {
        gather_byte_rows(image_bytes_, part_indices, x);
      } else {
        gather_rows(images_, part_indices, x);
      }
      const int64_t nonfinite_weight =
          step_part(w, x, part_indices, n, static_cast<double>(b - a) / static_cast<double>(rows),
                    work.parts == 1 ? generator_ : work.gens[part], w == 0 ? nullptr : work.store, work.defer);
      work.bounds[part] = sum_of(bounds_[part].last_per_datum());
      nonfinite = nonfinite_reason(w, work.bounds[part], nonfinite_weight);
    }
    if (grads.empty()) grads.resize(params_.size());  // no rows: contributes nothing
  } catch (...) {
    work.errors[part] = std::current_exception();
  }
  if (work.defer) {
    // When the products' inputs bound their sums inside the float range (the rule), the update
    // begins at this meeting and each worker updates its rows right after their products; else
    // the products are checked first and the update waits for the next meeting.
    try {
      if (!work.errors[part] && !options_.check_products_first) bound_products(w);
    } catch (...) {
      work.errors[part] = std::current_exception();
    }
    pool.arrive_and_wait([&] {  // every worker's weight-gradient products are recorded
      work.early = !options_.check_products_first && no_errors() && products_surely_finite();
      if (work.early) work.begun = begin_update(work);
    });
    if (!work.early && no_errors()) {
      try {
        const std::string reason = run_shared_products(w);
        if (nonfinite.empty()) nonfinite = reason;
      } catch (...) {
        work.errors[part] = std::current_exception();
      }
    }
  }
  if (!work.early) pool.arrive_and_wait([&] { work.begun = begin_update(work); });  // on one worker
  // Each worker its share of the parameters, whose weight gradients it makes or has just made
  // (in cache); else in chunks that the workers claim, so that they finish together.
  if (work.begun) {
    try {
      if (work.early) {
        work.update_begun[part] = std::chrono::steady_clock::now();
        run_products_and_updates(w);
        work.update_done[part] = std::chrono::steady_clock::now();
      } else if (work.defer) {
        update_shared_parameters(w);
      } else {
        adam_->update_claimed_partitions(work.next_chunk, work.chunks);
      }
    } catch (...) {
      work.errors[part] = std::current_exception();
    }
  }
  work.cpu[part] = thread_cpu_seconds() - cpu_start;
}

std::optional<double> VaeTrainer::finish_step(StepWork& work) {
  for (double c : work.cpu) extra_cpu_seconds_ += std::max(0.0, c - work.cpu[0]);
  const bool error = std::any_of(work.errors.begin(), work.errors.end(), [](const auto& e) { return bool(e); });
  // No update zeroed the weights' gradient buffers: a later step starts from zeros.
  if (work.failed || work.skipped || error) {
    for (auto& b : weight_grad_buffers_) b.zero_();
  }
  for (const auto& e : work.errors) {
    if (e) std::rethrow_exception(e);
  }
  if (work.skipped) {
    note_skipped_step();
    return std::nullopt;
  }
  if (work.early && work.begun && options_.balance_shares) rebalance_shares(work);
  consecutive_nonfinite_ = 0;
  double total = 0.0;
  for (double b : work.bounds) total += b;
  return total;
}

std::optional<double> VaeTrainer::step(const Tensor& indices, int64_t n) {
  // The first step runs on this thread alone: it registers the parameters in the store.
  WorkerPool& pool = params_.empty() ? solo_ : *pool_;
  StepWork work;
  prepare_step(work, indices, pool.size());
  pool.run([&](int64_t w) { run_step_part(work, pool, w, n); });
  return finish_step(work);
}

std::string VaeTrainer::nonfinite_reason(int64_t part, double bound, int64_t weight) const {
  if (!std::isfinite(bound)) return "loss";
  if (weight >= 0) return "gradient of '" + weight_names_[static_cast<size_t>(weight)] + "'";
  // The weights' buffers are checked after their products (WeightGradientScope, run_shared_products);
  // the rest here, weight gradients too when a fallback path (no BLAS, another dtype) made a
  // fresh tensor.
  const auto& grads = grads_[static_cast<size_t>(part)];
  for (size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i].defined() || is_weight_buffer(grads[i])) continue;
    if (!all_finite(grads[i])) return "gradient of '" + param_names_[i] + "'";
  }
  return "";
}

bool VaeTrainer::is_weight_buffer(const Tensor& g) const {
  return std::any_of(weight_grad_buffers_.begin(), weight_grad_buffers_.end(),
                     [&](const Tensor& b) { return b.data_ptr() == g.data_ptr() && b.numel() == g.numel(); });
}

void VaeTrainer::note_skipped_step() {
  ++skipped_steps_;
  ++consecutive_nonfinite_;
  if (consecutive_nonfinite_ >= options_.max_consecutive_nonfinite) {
    const auto reason = *std::find_if(nonfinite_.begin(), nonfinite_.end(), [](const auto& r) { return !r.empty(); });
    throw infer::NonFiniteTrainingError("VaeTrainer: training stopped in epoch " + std::to_string(epochs_) + ": " +
                                        std::to_string(consecutive_nonfinite_) +
                                        " consecutive steps with a non-finite loss or gradient (last: " + reason +
                                        "); the parameters are those of the last finite step");
  }
}

EpochResult VaeTrainer::epoch() {
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = thread_cpu_seconds();
  double excluded_cpu = 0.0;
  extra_cpu_seconds_ = 0.0;
  const int64_t n = images_.size(0);
  const Tensor order = at::randperm(n, generator_, at::TensorOptions().dtype(at::kLong));
  EpochResult result;
  result.epoch = ++epochs_;
  double bound_sum = 0.0, excluded = 0.0;
  int64_t excluded_images = 0;  // in skipped steps
  dist::ValidationScope validation(options_.validate);
  FlushDenormalScope flush(options_.flush_denormal);
  const int64_t batch = options_.batch_size, steps = (n + batch - 1) / batch;
  // Sliced up front: a LibTorch call between two steps, with its code out of cache, delays both workers.
  std::vector<Tensor> batches;
  for (int64_t s = 0; s < steps; ++s) batches.push_back(order.slice(0, s * batch, std::min(n, (s + 1) * batch)));
  auto batch_indices = [&](int64_t s) { return batches[static_cast<size_t>(s)]; };
  auto count = [&](int64_t s, std::optional<double> bound) {
    ++result.steps;
    if (bound) {
      bound_sum += *bound;
    } else {
      ++result.skipped_steps;
      excluded_images += std::min(n, (s + 1) * batch) - s * batch;
    }
    if (options_.between_steps) {
      const auto outside = std::chrono::steady_clock::now();
      const double outside_cpu = thread_cpu_seconds();
      options_.between_steps();
      excluded += seconds_since(outside);
      excluded_cpu += thread_cpu_seconds() - outside_cpu;
    }
  };
  int64_t s = 0;
  if (params_.empty() && s < steps) {  // the first step registers the parameters
    count(s, step(batch_indices(s), n));
    ++s;
  }
  if (s < steps) {
    // One job for the rest of the epoch: between two steps the workers only meet while this
    // thread ends the one and begins the next (a job per step woke the other workers from
    // sleep every step, tens of microseconds each time).
    WorkerPool& pool = *pool_;
    StepWork work;
    prepare_step(work, batch_indices(s), pool.size());
    std::exception_ptr error;
    bool done = false;
    pool.run([&](int64_t w) {
      while (!done) {
        run_step_part(work, pool, w, n);
        pool.arrive_and_wait_on_first(w, [&] {
          try {
            count(s, finish_step(work));
            if (++s < steps) prepare_step(work, batch_indices(s), pool.size());
            done = s >= steps;
          } catch (...) {
            error = std::current_exception();
            done = true;
          }
        });
      }
    });
    for (auto& products : deferred_) products.clear();
    if (error) std::rethrow_exception(error);
  }
  result.train_bound = bound_sum / static_cast<double>(n - excluded_images);
  result.seconds = seconds_since(start) - excluded;
  result.critical_cpu_seconds = thread_cpu_seconds() - cpu_start - excluded_cpu + extra_cpu_seconds_;
  return result;
}

Evaluation evaluate(Vae& vae, const Tensor& images, BoundKind kind, int64_t particles, at::Generator generator,
                    int64_t max_elements) {
  if (particles < 1) throw std::invalid_argument("evaluate: particles must be at least 1");
  const auto start = std::chrono::steady_clock::now();
  at::NoGradGuard no_grad;
  dist::ValidationScope validation(false);
  FlushDenormalScope flush(true);
  const int64_t n = images.size(0);
  const int64_t pixels = vae.options().pixels;
  // Particles run in chunks whose tensors stay cache-sized; the chunks' per-image bounds combine
  // exactly: log mean over all K = logsumexp_c(log mean_c + log K_c) - log K (means for the ELBO).
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(particles, max_elements / pixels));
  const int64_t batch = std::max<int64_t>(1, std::min<int64_t>(n, max_elements / (chunk * pixels)));
  model::SeedHandler seed(generator);
  double sum = 0.0;
  for (int64_t begin = 0; begin < n; begin += batch) {
    const Tensor indices = at::arange(begin, std::min(n, begin + batch), at::TensorOptions().dtype(at::kLong));
    const Tensor x = images.slice(0, begin, begin + indices.size(0));
    std::vector<Tensor> parts;
    std::vector<double> sizes;
    for (int64_t done = 0; done < particles; done += chunk) {
      const int64_t k = std::min(chunk, particles - done);
      LocalBound bound(kind, k);
      bound.loss([&] { vae.model(x, indices, n); }, [&] { vae.guide(x, indices, n); });
      parts.push_back(bound.last_per_datum().to(at::kDouble));
      sizes.push_back(static_cast<double>(k));
    }
    Tensor per_datum;
    if (parts.size() == 1) {
      per_datum = parts[0];
    } else if (kind == BoundKind::Elbo) {
      per_datum = at::zeros_like(parts[0]);
      for (size_t c = 0; c < parts.size(); ++c) per_datum += parts[c] * (sizes[c] / static_cast<double>(particles));
    } else {
      std::vector<Tensor> shifted;
      for (size_t c = 0; c < parts.size(); ++c) shifted.push_back(parts[c] + std::log(sizes[c]));
      per_datum = at::logsumexp(at::stack(shifted), 0) - std::log(static_cast<double>(particles));
    }
    sum += per_datum.sum().item<double>();
  }
  Evaluation out;
  out.per_image = sum / static_cast<double>(n);
  out.seconds = seconds_since(start);
  out.images = n;
  out.particles = particles;
  return out;
}

}  // namespace amortize::vae
