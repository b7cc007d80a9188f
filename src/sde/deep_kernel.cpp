#include "amortize/sde/deep_kernel.hpp"

#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <stdexcept>

namespace amortize::sde {
namespace {

// alpha = K^-1 Y for a symmetric positive definite K by one Cholesky factorisation. The
// backward needs no O(B^3) work: dY = K^-1 dalpha reuses the factor and dK = -dY alpha^T.
struct SpdSolve : public torch::autograd::Function<SpdSolve> {
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& k, const Tensor& y) {
    const auto [chol, info] = at::linalg_cholesky_ex(k);
    if (info.item<int64_t>() != 0)
      throw std::runtime_error("DeepKernelInterpolant::fit: the kernel matrix is not positive definite (raise the jitter)");
    const Tensor alpha = at::cholesky_solve(y, chol);
    ctx->save_for_backward({chol, alpha});
    return alpha;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor gy = at::cholesky_solve(grads[0], saved[0]);
    const Tensor gk = -gy.matmul(saved[1].t());
    return {gk, gy};
  }
};

}  // namespace

Tensor spd_solve(const Tensor& k, const Tensor& y) { return SpdSolve::apply(k, y); }

DeepKernelInterpolantImpl::DeepKernelInterpolantImpl(const DeepKernelOptions& options,
                                                     const at::TensorOptions& tensor_options)
    : time_scale_(options.time_scale) {
  if (!(options.time_scale > 0) || !(options.lengthscale > 0) || !(options.signal_scale > 0) ||
      !(options.jitter > 0))
    throw std::invalid_argument("DeepKernelInterpolant: time_scale, lengthscale, signal_scale and jitter must be positive");
  warp_net_ = register_module("warp", Mlp(1, options.warp_hidden, 1, options.warp_activation, tensor_options));
  const auto opts = tensor_options.requires_grad(false);
  log_lengthscale_ = register_parameter("log_lengthscale", at::full({}, std::log(options.lengthscale), opts));
  log_signal_scale_ = register_parameter("log_signal_scale", at::full({}, std::log(options.signal_scale), opts));
  log_jitter_ = register_parameter("log_jitter", at::full({}, std::log(options.jitter), opts));
}

Tensor DeepKernelInterpolantImpl::to_u(const Tensor& t, double t_first) const {
  return (t - t_first) * (1.0 / time_scale_) - 1.0;
}

std::pair<Tensor, Tensor> DeepKernelInterpolantImpl::warp(const Tensor& u) {
  const Tensor x = u.unsqueeze(-1);
  auto [y, dy] = warp_net_->forward_with_tangent(x, at::ones_like(x));
  return {u + y.squeeze(-1), 1 + dy.squeeze(-1)};
}

Tensor DeepKernelInterpolantImpl::kernel(const Tensor& t1, const Tensor& t2, double t_first) {
  const Tensor u1 = to_u(t1, t_first), u2 = to_u(t2, t_first);
  const Tensor g1 = u1 + warp_net_->forward(u1.unsqueeze(-1)).squeeze(-1);
  const Tensor g2 = u2 + warp_net_->forward(u2.unsqueeze(-1)).squeeze(-1);
  const Tensor diff = g1.unsqueeze(-1) - g2.unsqueeze(-2);
  return signal_scale() * at::exp(-diff.square() / lengthscale());
}

InterpolantFit DeepKernelInterpolantImpl::fit(const Tensor& t_nodes, const Tensor& values) {
  if (t_nodes.dim() != 1 || values.dim() != 2 || values.size(0) != t_nodes.size(0))
    throw std::invalid_argument("DeepKernelInterpolant::fit: expected t_nodes [B] and values [B, P]");
  InterpolantFit out;
  out.t_first = t_nodes[0].item<double>();
  const Tensor u = to_u(t_nodes, out.t_first);
  out.warped_nodes = u + warp_net_->forward(u.unsqueeze(-1)).squeeze(-1);
  const Tensor diff = out.warped_nodes.unsqueeze(-1) - out.warped_nodes.unsqueeze(-2);
  Tensor gram = at::exp(diff.square() * (-lengthscale().reciprocal()) + log_signal_scale_);
  gram = gram + at::diag(jitter().expand({t_nodes.size(0)}));
  out.alpha = spd_solve(gram, values);
  out.node_values = values - jitter() * out.alpha;
  return out;
}

std::pair<Tensor, Tensor> DeepKernelInterpolantImpl::evaluate(const InterpolantFit& fit, const Tensor& t_query) {
  if (t_query.dim() != 1) throw std::invalid_argument("DeepKernelInterpolant::evaluate: expected query times [Q]");
  auto [g, dg] = warp(to_u(t_query, fit.t_first));
  const Tensor diff = g.unsqueeze(-1) - fit.warped_nodes.unsqueeze(-2);  // [Q, B]
  const Tensor inv_len = lengthscale().reciprocal();
  const Tensor k = signal_scale() * at::exp(-diff.square() * inv_len);
  // dk/dt = k * (-2 diff / len) * g'(u) * du/dt
  const Tensor dk = k * diff * (dg * (-2.0 / time_scale_)).unsqueeze(-1) * inv_len;
  const int64_t q = t_query.size(0);
  const Tensor both = at::cat({k, dk}, 0).matmul(fit.alpha);  // [2Q, P]
  return {both.narrow(0, 0, q), both.narrow(0, q, q)};
}

}  // namespace amortize::sde
