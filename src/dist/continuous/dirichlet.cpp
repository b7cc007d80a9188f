#include "amortize/dist/continuous/dirichlet.hpp"

#include "gamma_family_math.hpp"

#include <torch/csrc/autograd/custom_function.h>

namespace amortize::dist {
namespace {
// ATen samples the Dirichlet without a gradient; the backward applies the implicit
// reparameterisation gradient: d x_i / d a_i from _dirichlet_grad, projected so that the
// draw stays on the simplex (the same rule as PyTorch's _Dirichlet).
struct DirichletImplicitSample : public torch::autograd::Function<DirichletImplicitSample> {
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& concentration,
                        c10::optional<at::Generator> gen) {
    Tensor x = at::_sample_dirichlet(concentration, std::move(gen));
    ctx->save_for_backward({x, concentration});
    return x;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const Tensor& x = saved[0];
    const Tensor& concentration = saved[1];
    const Tensor& grad = grad_outputs[0];
    auto total = concentration.sum(-1, /*keepdim=*/true).expand_as(concentration);
    auto dx_dconcentration = at::_dirichlet_grad(x, concentration, total);
    return {dx_dconcentration * (grad - (x * grad).sum(-1, /*keepdim=*/true)), Tensor()};
  }
};
}  // namespace

Tensor dirichlet_rsample_implicit(const Tensor& concentration, at::Generator gen) {
  // An undefined generator means LibTorch's default one.
  c10::optional<at::Generator> maybe_gen;
  if (gen.defined()) maybe_gen = std::move(gen);
  return DirichletImplicitSample::apply(concentration, std::move(maybe_gen));
}

Dirichlet::Dirichlet(const Tensor& concentration) {
  concentration_ = broadcast_args({concentration})[0];
  require(concentration_.dim() >= 1, "Dirichlet: concentration must have at least one dimension, got shape " +
                                         shape_string(concentration_.sizes()));
  require_positive("Dirichlet", "concentration", concentration_);
  auto sizes = to_shape(concentration_.sizes());
  set_shapes(Shape(sizes.begin(), sizes.end() - 1), Shape{sizes.back()});
}

Tensor Dirichlet::log_prob(const Tensor& value) const {
  validate_sample(value);
  return gamma_family::xlogx_power(concentration_ - 1, value).sum(-1) + at::lgamma(concentration_.sum(-1)) -
         at::lgamma(concentration_).sum(-1);
}

Tensor Dirichlet::rsample(const Shape& sample_shape, at::Generator gen) const {
  return dirichlet_rsample_implicit(concentration_.expand(extended_shape(sample_shape)), std::move(gen));
}

Tensor Dirichlet::mean() const { return concentration_ / concentration_.sum(-1, /*keepdim=*/true); }

Tensor Dirichlet::variance() const {
  auto total = concentration_.sum(-1, /*keepdim=*/true);
  return concentration_ * (total - concentration_) / (total.square() * (total + 1));
}

Tensor Dirichlet::entropy() const {
  const auto k = static_cast<double>(concentration_.size(-1));
  auto total = concentration_.sum(-1);
  return at::lgamma(concentration_).sum(-1) - at::lgamma(total) + (total - k) * at::digamma(total) -
         ((concentration_ - 1) * at::digamma(concentration_)).sum(-1);
}

DistPtr Dirichlet::expand(const Shape& batch_shape) const {
  check_expand(batch_shape);
  Shape shape = batch_shape;
  shape.push_back(event_shape().back());
  return std::make_shared<Dirichlet>(concentration_.expand(shape));
}

}  // namespace amortize::dist
