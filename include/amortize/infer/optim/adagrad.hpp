// Adagrad (Duchi, Hazan & Singer): per-coordinate steps scaled by the root of the summed
// squared gradients, with torch.optim.Adagrad's conventions (learning-rate decay per update).
#pragma once
#include "amortize/infer/optim/optimizer.hpp"

namespace amortize::infer::optim {

struct AdagradOptions {
  double lr_decay = 0.0;
  double weight_decay = 0.0;
  double initial_accumulator_value = 0.0;
  double eps = 1e-10;
};

class Adagrad : public Optimizer {
 public:
  explicit Adagrad(double learning_rate, AdagradOptions options = {});
  std::string type_name() const override { return "Adagrad"; }
  const AdagradOptions& options() const { return options_; }

 protected:
  std::vector<std::string> state_names() const override { return {"sum"}; }
  void init_state(Slot& slot) const override;
  void update(Tensor& param, const Tensor& grad, std::vector<Tensor>& state, int64_t step, double lr) const override;

 private:
  AdagradOptions options_;
};

}  // namespace amortize::infer::optim
