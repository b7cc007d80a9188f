// Stochastic gradient descent with optional (heavy-ball or Nesterov) momentum, dampening and
// weight decay, with torch.optim.SGD's conventions (the first step's buffer is the gradient).
#pragma once
#include "amortize/infer/optim/optimizer.hpp"

namespace amortize::infer::optim {

struct SgdOptions {
  double momentum = 0.0;
  double dampening = 0.0;
  bool nesterov = false;
  double weight_decay = 0.0;
};

class Sgd : public Optimizer {
 public:
  explicit Sgd(double learning_rate, SgdOptions options = {});
  std::string type_name() const override { return "SGD"; }
  const SgdOptions& options() const { return options_; }

 protected:
  std::vector<std::string> state_names() const override;
  void update(Tensor& param, const Tensor& grad, std::vector<Tensor>& state, int64_t step, double lr) const override;

 private:
  SgdOptions options_;
};

}  // namespace amortize::infer::optim
