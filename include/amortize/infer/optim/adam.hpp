// Adam (Kingma & Ba) and Pyro's ClippedAdam: Adam whose gradients are clipped to a maximum
// global norm (across all parameters of the step) and whose learning rate decays by a
// constant factor every step. Both support sparse row updates (lazy, as SparseAdam).
#pragma once
#include "amortize/infer/optim/optimizer.hpp"

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

 protected:
  std::vector<std::string> state_names() const override { return {"exp_avg", "exp_avg_sq"}; }
  void update(Tensor& param, const Tensor& grad, std::vector<Tensor>& state, int64_t step, double lr) const override;

 private:
  AdamOptions options_;
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
