// Training and evaluation of the VAE: epochs of shuffled minibatches, each step one Adam
// update on the per-datum bound (ELBO or IWAE with K particles) scaled to the whole data set,
// and batched evaluation of the per-image bound on held-out images (the ELBO with one
// particle, or the importance-sampled log-likelihood estimate with K = 5000).
#pragma once
#include "amortize/vae/fused_ops.hpp"
#include "amortize/vae/local_bound.hpp"
#include "amortize/vae/row_shares.hpp"
#include "amortize/vae/vae.hpp"
#include "amortize/vae/worker_pool.hpp"

#include <ATen/core/Generator.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace amortize::model {
class ParamStore;
}
namespace amortize::infer::optim {
class Adam;
}

namespace amortize::vae {

struct FitOptions {
  int64_t batch_size = 256;
  double learning_rate = 1e-3;
  BoundKind objective = BoundKind::Elbo;
  int64_t particles = 1;
  uint64_t seed = 1;
  // Distribution argument checks (they read values back every step); off like Pyro's example.
  bool validate = false;
  // Flush denormal floats to zero while training (x86 FTZ/DAZ): denormal second moments in
  // Adam and softplus tails otherwise cost several times the arithmetic.
  bool flush_denormal = true;
  // Called after every step, outside the timed work: EpochResult::seconds leaves its time out
  // (benchmarks interleave reference work with the steps so both see the same machine load).
  std::function<void()> between_steps;
  // Threads that split each batch (data parallel, single-threaded BLAS in each: see threads.hpp).
  // They live for the whole fit (a WorkerPool) and run an epoch's steps as one job. Each step
  // they compute their rows' gradients and meet; each then runs every worker's weight-gradient
  // products for its share of the parameters' rows (share_rows) and updates them (see
  // check_products_first), with the workers' bias gradients summed in the same pass
  // (optim::Adam's partitioned step); then the calling thread ends the step and begins the next
  // while they wait. (With fresh_weight_gradients they update chunks that they claim in turn.) With more
  // than one the particles' draws differ from a one-thread run (one generator per part, seeded
  // from `seed`), but runs with the same count repeat exactly.
  int64_t workers = 1;
  // Fresh weight-gradient tensors every step, one per worker, instead of one buffer per weight
  // (the default): the products add into the buffers and Adam's pass zeroes them (which saves
  // OpenBLAS's zeroing pass of beta = 0 products).
  // For inspecting worker_gradients() after a step. The numbers are the same either way.
  bool fresh_weight_gradients = false;
  // With several workers the update of a step normally begins as soon as their backward passes
  // are done, and each worker updates its rows right after their weight-gradient products: when
  // the products' inputs bound every sum below 1e38 (rows * max|dy| * max|x|), no product can
  // overflow. Otherwise, or with this set, the products run and are checked for infinite and
  // NaN values first, and the update waits for all of them (a further meeting). The same bits.
  bool check_products_first = false;
  // With several workers, the rows each runs products and updates for follow the workers' measured
  // speeds (within a few percent of equal elements), so that they finish together: a core shared
  // with another job, or products of shapes the BLAS runs faster, otherwise keep one waiting every
  // step. The numbers are the same either way (which worker computes a row does not change it).
  bool balance_shares = true;
  // The workers' relative speeds that their shares of the rows start from (one positive entry per
  // worker; empty: equal). For cores known to differ; balance_shares adjusts them step by step.
  std::vector<double> share_speeds;
  // A step whose loss or gradient holds an infinite or NaN value is skipped (no update) and
  // counted; this many in a row throw infer::NonFiniteTrainingError.
  int64_t max_consecutive_nonfinite = 20;
};

struct EpochResult {
  int64_t epoch = 0;  // 1-based
  int64_t steps = 0;
  double seconds = 0.0;
  double train_bound = 0.0;   // per image: the epoch's minibatch bounds averaged over images
  int64_t skipped_steps = 0;  // non-finite steps, left out of train_bound
  // The epoch's CPU time along its critical path: this thread's CPU time plus, every step, what
  // the slowest worker spent beyond worker 0 (thread CPU clocks). On a machine shared with other
  // jobs it estimates the seconds the epoch would take on cores of its own.
  double critical_cpu_seconds = 0.0;
};

class VaeTrainer {
 public:
  // Optimises the VAE's parameters (registered in the active param store) on `images`
  // (N, pixels) of 0/1 values; every draw (shuffling, particles) comes from `seed`.
  VaeTrainer(Vae& vae, Tensor images, FitOptions options);
  ~VaeTrainer();
  // One pass over the images in a fresh random order (the last batch may be smaller). Throws
  // infer::NonFiniteTrainingError after FitOptions::max_consecutive_nonfinite non-finite steps
  // in a row: the trainer is then mid-epoch, and its state is not one to save and resume.
  EpochResult epoch();
  at::Generator& generator() { return generator_; }
  const FitOptions& options() const { return options_; }
  // Changes the number of data-parallel workers from the next step on.
  void set_workers(int64_t workers);
  // The last step's gradients: one list per worker (empty, or undefined entries, for a worker
  // without a part in that step), aligned with parameter_names(); the step's gradient is their sum.
  // Unless options().fresh_weight_gradients, the weight matrices' entries are the reused buffers,
  // shared by all workers (the whole step's gradient), which the update leaves zero.
  const std::vector<std::vector<Tensor>>& worker_gradients() const { return grads_; }
  const std::vector<std::string>& parameter_names() const { return param_names_; }
  // Steps skipped for a non-finite loss or gradient (over the whole run, resumed ones included).
  int64_t skipped_steps() const { return skipped_steps_; }
  // Epochs trained (over the whole run).
  int64_t epochs_done() const { return epochs_; }
  // The training state (the parameters, Adam's moments and step counts, the generator, the epoch
  // and non-finite counters) and the caller's `record` (say, the epochs' figures) as one amortize
  // checkpoint (infer/checkpoint.hpp: a temporary file renamed into place). A trainer with the same
  // VAE sizes and settings that loads it before its first epoch continues exactly as the saved
  // run would have, given the same number of workers; load_state returns the record. A missing,
  // corrupt or foreign file, or parameters of other shapes, throw infer::CheckpointError.
  void save_state(const std::string& path, const std::string& record = "") const;
  std::string load_state(const std::string& path);

 private:
  struct StepWork;
  // One step on the images' rows `indices` (of n), split over the workers; returns the sum of
  // the batch's per-datum bounds, or nothing for a skipped (non-finite) step. The same as
  // prepare_step, run_step_part on every worker, then finish_step.
  std::optional<double> step(const Tensor& indices, int64_t n);
  void prepare_step(StepWork& work, const Tensor& indices, int64_t parts);  // on the calling thread
  // Worker w's part of the step (of n images): its rows' gradients, the meetings, its share of
  // the update.
  void run_step_part(StepWork& work, WorkerPool& pool, int64_t w, int64_t n);
  // At the meeting after the gradients: decides the step (an error or a non-finite part stops
  // it) and begins Adam's partitioned step; true when the update is to run.
  bool begin_update(StepWork& work);
  // On the calling thread once every part is done: rethrows a worker's error, counts a skipped
  // step; returns the batch's bound as step() does.
  std::optional<double> finish_step(StepWork& work);
  // Loss and gradients of part `part` (rows x of n, loss weighted by `weight`) into grads_[part];
  // returns the first weight (index in weights_) whose checked buffer is not finite, or -1;
  // `store` is the param store to activate (worker threads) or null (the calling thread);
  // `defer`: record the weight-gradient products in deferred_[part] (run_shared_products runs them).
  int64_t step_part(int64_t part, const Tensor& x, const Tensor& indices, int64_t n, double weight,
                    at::Generator& generator, model::ParamStore* store, bool defer = false);
  void make_weight_buffers();            // once the weights are known
  void share_parameters(int64_t parts);  // shares_ for `parts` workers, equal elements each
  // After a step whose products and updates ran at the first meeting: shares_ from the workers'
  // finishing times (rebalanced_weights).
  void rebalance_shares(const StepWork& work);
  // Runs every worker's recorded products, in worker order, for the weight rows in `worker`'s
  // shares, into their buffers; returns the nonfinite_reason of the first share that is not
  // finite, or "".
  std::string run_shared_products(int64_t worker);
  // Every worker's recorded products for one share's rows, into the weight's buffer; returns the
  // weight's index in weights_, or -1 for a share of another parameter (no products).
  int64_t add_share_products(const RowShare& share);
  void update_share(const RowShare& share) const;  // Adam's update of the share's elements
  // Adam's update (begun by begin_partitioned_step) of the rows in `worker`'s shares.
  void update_shared_parameters(int64_t worker) const;
  // product_bounds_[worker]: per weight, a bound on the magnitude of `worker`'s products' sums.
  void bound_products(int64_t worker);
  // True when every weight's summed bound lies far inside the float range (finite gradients).
  bool products_surely_finite() const;
  // run_shared_products without checks, each share updated right after its products.
  void run_products_and_updates(int64_t worker);
  bool is_weight_buffer(const Tensor& g) const;
  // The active store's parameters, in its order (params_, param_names_, weights_, weight_names_).
  void collect_parameters();
  void make_optimizer();  // Adam over params_
  // Why part `part`'s step is not finite ("loss" or "gradient of 'name'"), or "" if it is;
  // `weight` is step_part's first non-finite checked weight.
  std::string nonfinite_reason(int64_t part, double bound, int64_t weight) const;
  // Counts a skipped step; throws infer::NonFiniteTrainingError after too many in a row.
  void note_skipped_step();

  Vae& vae_;
  Tensor images_;
  Tensor image_bytes_;  // the same as uint8 when they are float32 0/1 values
  FitOptions options_;
  at::Generator generator_;
  std::vector<LocalBound> bounds_;          // one per worker
  std::vector<std::vector<Tensor>> grads_;  // per worker, one per parameter (undefined: none)
  // The weight matrices' gradient buffers (WeightGradientScope), one per weight for all workers:
  // the products add into them and Adam's pass zeroes them (see FitOptions). With several
  // workers each weight's products, all workers' rows, run on the worker that owns the weight:
  // half of the zeroing and of Adam's gradient reads of a buffer per worker.
  std::vector<Tensor> weight_grad_buffers_;
  std::vector<std::vector<WeightGradientScope::DeferredProduct>> deferred_;  // per worker, this step's
  // Per worker, its rows of the parameters: their products and update (see share_rows).
  std::vector<std::vector<RowShare>> shares_;
  int64_t shares_for_parts_ = 0;
  std::vector<RowLayout> row_layouts_;               // of params_
  std::vector<double> share_speeds_;                 // per worker, relative (share_rows' weights)
  std::vector<std::vector<double>> product_bounds_;  // per worker, per weight (bound_products)
  std::vector<Tensor> weights_;                      // the parameters with two dimensions
  std::vector<int64_t> weight_of_param_;             // per parameter, its index in weights_, or -1
  std::vector<std::string> param_names_;             // the store's parameters, known after the first step
  std::vector<Tensor> params_;
  std::unique_ptr<infer::optim::Adam> adam_;
  std::unique_ptr<WorkerPool> pool_;  // options_.workers workers
  WorkerPool solo_{1};                // the first step, which registers the parameters
  std::vector<Tensor> batches_;       // per worker: its rows of the batch
  int64_t epochs_ = 0;
  double extra_cpu_seconds_ = 0.0;         // this epoch's sum over steps of max(0, slowest worker - worker 0)
  std::vector<std::string> nonfinite_;     // per worker, the last step's nonfinite_reason
  std::vector<std::string> weight_names_;  // of weights_
  int64_t skipped_steps_ = 0;
  int64_t consecutive_nonfinite_ = 0;
};

struct Evaluation {
  double per_image = 0.0;  // mean over the images of the per-image bound, nats
  double seconds = 0.0;
  int64_t images = 0;
  int64_t particles = 0;
};

// The mean per-image bound on `images`: kind Elbo averages the particles' log weights, kind
// ImportanceWeighted log-mean-exps them (the IWAE bound; with many particles an estimate of the
// log-likelihood). Images and particles are batched and chunked so that every pixel tensor
// holds about `max_elements` values (cache-sized: elementwise passes dominate otherwise).
Evaluation evaluate(Vae& vae, const Tensor& images, BoundKind kind, int64_t particles, at::Generator generator,
                    int64_t max_elements = int64_t{1} << 19);

}  // namespace amortize::vae
