// Adam (Kingma & Ba) and Pyro's ClippedAdam: Adam whose gradients are clipped to a maximum
// global norm (across all parameters of the step) and whose learning rate decays by a
// constant factor every step. Both support sparse row updates (lazy, as SparseAdam). Dense
// CPU float/double parameters take the one-pass kernel of fused_adam.hpp, any others six ATen
// operations with the same arithmetic.
#pragma once
#include "amortize/infer/optim/fused_adam.hpp"
#include "amortize/infer/optim/optimizer.hpp"

#include <atomic>

namespace amortize::infer::optim {

struct AdamOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

class Adam : public Optimizer {
 public:
  explicit Adam(double learning_rate, AdamOptions options = {});
  std::string type_name() const override { return "Adam"; }
  const AdamOptions& options() const { return options_; }

  // A step for callers that run their own worker threads (data parallel). The gradient of
  // names[i] is the sum over workers w, in order, of worker_grads[w][i] (undefined entries
  // count as zero; a parameter with none is left alone), not its .grad(). Call
  // begin_partitioned_step on one thread; then update_partition(part, parts) for every part in
  // [0, parts), from any threads at once: each updates its share of the parameters' elements
  // (the same numbers for any number of parts). Parameters must be dense contiguous CPU float
  // or double tensors and the gradients contiguous of the same size and dtype; anything else
  // throws std::invalid_argument naming the parameter. The gradients must stay alive until
  // the partitions are done. With `zero_gradients` the update leaves every gradient zero
  // (buffers that the workers' next products add into, with no separate zeroing pass).
  void begin_partitioned_step(const std::vector<std::string>& names,
                              const std::vector<std::vector<Tensor>>& worker_grads, double lr_scale = 1.0,
                              bool zero_gradients = false);
  void update_partition(int64_t part, int64_t parts) const;
  // The update of elements [begin, end) of names[index] alone (callers that split the parameters
  // themselves; the same numbers as any partition); nothing for a parameter without gradients.
  void update_parameter_range(size_t index, int64_t begin, int64_t end) const;
  // update_partition for parts claimed from `next` (shared by the calling threads, from 0) until
  // all `parts` are taken: a thread that arrives early, or is not descheduled, takes more of them.
  void update_claimed_partitions(std::atomic<int64_t>& next, int64_t parts) const;

 protected:
  std::vector<std::string> state_names() const override { return {"exp_avg", "exp_avg_sq"}; }
  void update(Tensor& param, const Tensor& grad, std::vector<Tensor>& state, int64_t step, double lr) const override;

 private:
  // One parameter of the partitioned step in progress.
  struct Partition {
    Tensor param, exp_avg, exp_avg_sq;
    std::vector<float*> float_grads;  // the workers' gradients of a float parameter
    std::vector<double*> double_grads;
    bool zero_gradients = false;
    int64_t offset = 0;  // of its first element in the concatenation of all parameters
    AdamCoefficients coefficients;
  };
  static void update_elements(const Partition& p, int64_t begin, int64_t end);

  AdamOptions options_;
  std::vector<Partition> partitions_;
  std::vector<int64_t> partition_of_name_;  // per name of the step: its index in partitions_, or -1
  int64_t partitioned_elements_ = 0;
};

struct ClippedAdamOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  // Gradients are rescaled so that their global L2 norm is at most clip_norm.
  double clip_norm = 10.0;
  // Step t (from 1) uses learning rate lr * lr_decay^t, as Pyro's ClippedAdam.
  double lr_decay = 1.0;
};

class ClippedAdam : public Optimizer {
 public:
  explicit ClippedAdam(double learning_rate, ClippedAdamOptions options = {});
  std::string type_name() const override { return "ClippedAdam"; }
  const ClippedAdamOptions& options() const { return options_; }
  // Global gradient norm of the last step, before clipping.
  double last_gradient_norm() const { return last_norm_; }

 protected:
  std::vector<std::string> state_names() const override { return {"exp_avg", "exp_avg_sq"}; }
  void prepare_step(std::vector<Tensor>& grads) override;
  double step_learning_rate(double lr) const override;
  void update(Tensor& param, const Tensor& grad, std::vector<Tensor>& state, int64_t step, double lr) const override;

 private:
  ClippedAdamOptions options_;
  double last_norm_ = 0.0;
};

// The L2 norm of all gradients together (values of sparse ones); 0 for an empty list.
double global_norm(const std::vector<Tensor>& grads);

}  // namespace amortize::infer::optim
