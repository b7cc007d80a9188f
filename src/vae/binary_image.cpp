#include "amortize/vae/binary_image.hpp"

#include <torch/csrc/autograd/custom_function.h>

namespace amortize::vae {
namespace {

// Forward: -sum_j softplus(s_j l_j) over the last dimension; backward: (x - sigmoid(l)) * g.
class BinaryImageLogProb : public torch::autograd::Function<BinaryImageLogProb> {
 public:
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& logits, const Tensor& x) {
    ctx->save_for_backward({logits, x});
    const Tensor signs = 1 - 2 * x;
    return -at::softplus(signs * logits).sum(-1);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor& logits = saved[0];
    const Tensor& x = saved[1];
    // x broadcasts against the logits, whose shape the gradient has.
    Tensor g = at::sigmoid(logits).sub_(x).mul_(-grads[0].unsqueeze(-1));
    return {g, Tensor()};
  }
};

}  // namespace

BinaryImage::BinaryImage(Tensor logits) : logits_(std::move(logits)) {
  if (logits_.dim() < 1) throw dist::DistributionError("BinaryImage: logits need a pixel dimension");
  if (!at::isFloatingType(logits_.scalar_type())) throw dist::DistributionError("BinaryImage: logits must be floating");
  auto sizes = logits_.sizes().vec();
  const int64_t pixels = sizes.back();
  sizes.pop_back();
  set_shapes(Shape(sizes.begin(), sizes.end()), Shape{pixels});
}

Tensor BinaryImage::log_prob(const Tensor& value) const {
  validate_sample(value);
  const Tensor x = value.scalar_type() == logits_.scalar_type() ? value : value.to(logits_.scalar_type());
  // x usually broadcasts against the logits (particles): the fused node broadcasts it inside,
  // without materialising it. Logits that must grow are expanded outside (autograd sums back).
  const auto shape = at::infer_size(x.sizes(), logits_.sizes());
  const Tensor logits = logits_.sizes() == at::IntArrayRef(shape) ? logits_ : logits_.expand(shape);
  return BinaryImageLogProb::apply(logits, x);
}

Tensor BinaryImage::sample(const Shape& sample_shape, at::Generator gen) const {
  at::NoGradGuard no_grad;
  return at::bernoulli(at::sigmoid(logits_.detach()).expand(extended_shape(sample_shape)), gen);
}

Tensor BinaryImage::variance() const {
  const Tensor p = at::sigmoid(logits_);
  return p * (1 - p);
}

dist::DistPtr BinaryImage::expand(const Shape& batch_shape) const {
  check_expand(batch_shape);
  Shape full = batch_shape;
  full.push_back(event_shape().back());
  return std::make_shared<BinaryImage>(logits_.expand(full));
}

}  // namespace amortize::vae
