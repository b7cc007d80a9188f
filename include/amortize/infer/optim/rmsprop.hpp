// RMSProp (Hinton's lecture 6e): the gradient divided by a running root mean square, with
// optional momentum and centring, with torch.optim.RMSprop's conventions.
#pragma once
#include "amortize/infer/optim/optimizer.hpp"

namespace amortize::infer::optim {

struct RmspropOptions {
  double alpha = 0.99;
  double eps = 1e-8;
  double momentum = 0.0;
  bool centered = false;
  double weight_decay = 0.0;
};

class Rmsprop : public Optimizer {
 public:
  explicit Rmsprop(double learning_rate, RmspropOptions options = {});
  std::string type_name() const override { return "RMSprop"; }
  const RmspropOptions& options() const { return options_; }

 protected:
  std::vector<std::string> state_names() const override;
  void update(Tensor& param, const Tensor& grad, std::vector<Tensor>& state, int64_t step, double lr) const override;

 private:
  RmspropOptions options_;
};

}  // namespace amortize::infer::optim
