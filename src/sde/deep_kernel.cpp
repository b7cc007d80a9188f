#include "amortize/sde/deep_kernel.hpp"

#include "amortize/infer/optim/optimizer.hpp"

#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <stdexcept>

namespace amortize::sde {
namespace {
using infer::optim::scalar_like;

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

// alpha = (s exp(-(w_i - w_j)^2 / len) + jitter I)^-1 Y in one node: the Gram matrix is built in
// place (no autograd graph over B x B temporaries) and the backward is O(B^2 P) matrix products.
// With gy = K^-1 dalpha, dL/dK = G = -gy alpha^T is rank P, so every B x B sum it enters
// (sum_ij G_ij K0_ij, sum_ij G_ij K0_ij d_ij^2 and the warped positions' gradient) reduces to
// K0 [alpha, w alpha, w^2 alpha, gy, w gy] and elementwise work on [B, P].
struct GramSolve : public torch::autograd::Function<GramSolve> {
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& w, const Tensor& log_len,
                        const Tensor& log_s, const Tensor& log_jitter, const Tensor& y) {
    const double inv_len = std::exp(-log_len.item<double>());
    const double jit = std::exp(log_jitter.item<double>());
    Tensor d = w.unsqueeze(-1) - w.unsqueeze(-2);
    Tensor k = at::sub(log_s, d.mul_(d), inv_len).exp_();  // K0 = s exp(-d^2 / len)
    const Tensor jit_t = scalar_like(jit, k);
    k.diagonal().add_(jit_t);
    const auto [chol, info] = at::linalg_cholesky_ex(k);
    if (info.item<int64_t>() != 0)
      throw std::runtime_error("DeepKernelInterpolant::fit: the kernel matrix is not positive definite (raise the jitter)");
    const Tensor alpha = at::cholesky_solve(y, chol);
    k.diagonal().sub_(jit_t);  // keep K0 for the backward
    ctx->save_for_backward({w, k, chol, alpha});
    ctx->saved_data["inv_len"] = inv_len;
    ctx->saved_data["jitter"] = jit;
    return alpha;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor& w = saved[0];
    const Tensor& k0 = saved[1];
    const Tensor& alpha = saved[3];
    const double inv_len = ctx->saved_data["inv_len"].toDouble();
    const double jit = ctx->saved_data["jitter"].toDouble();
    const Tensor gy = at::cholesky_solve(grads[0].contiguous(), saved[2]);
    const int64_t p = alpha.size(1);
    const Tensor wc = w.unsqueeze(-1);
    const Tensor wa = wc * alpha, wg = wc * gy;
    const Tensor prod = k0.matmul(at::cat({alpha, wa, wc * wa, gy, wg}, 1));  // [B, 5P]
    const Tensor ka = prod.narrow(1, 0, p), kwa = prod.narrow(1, p, p), kwwa = prod.narrow(1, 2 * p, p);
    const Tensor kg = prod.narrow(1, 3 * p, p), kwg = prod.narrow(1, 4 * p, p);
    // sum_ij G_ij K0_ij = -sum gy * K0 alpha
    const Tensor gka = gy * ka;
    const Tensor g_log_s = -gka.sum();
    // sum_ij G_ij K0_ij d_ij^2 / len (d/dlog len of K0_ij = K0_ij d_ij^2 / len)
    const Tensor g_log_len = at::sub(gka * wc * wc, wg * kwa, 2).add_(gy * kwwa).sum().mul_(scalar_like(-inv_len, w));
    const Tensor g_log_jitter = (gy * alpha).sum().mul_(scalar_like(-jit, w));
    // dL/dw_k = -2/len sum_j (G_kj + G_jk) K0_kj (w_k - w_j)
    const Tensor row = (gy * (wc * ka - kwa)).sum(1);
    const Tensor col = (alpha * (wc * kg - kwg)).sum(1);
    const Tensor g_w = (row + col).mul_(scalar_like(2 * inv_len, w));
    return {g_w, g_log_len, g_log_s, g_log_jitter, gy};
  }
};

}  // namespace

Tensor spd_solve(const Tensor& k, const Tensor& y) { return SpdSolve::apply(k, y); }

DeepKernelInterpolantImpl::DeepKernelInterpolantImpl(const DeepKernelOptions& options,
                                                     const at::TensorOptions& tensor_options)
    : time_scale_(options.time_scale), neg_two_over_time_scale_(-2.0 / options.time_scale) {
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
  return at::add(scalar_like(-t_first / time_scale_ - 1.0, t), t, 1.0 / time_scale_);
}

std::pair<Tensor, Tensor> DeepKernelInterpolantImpl::warp(const Tensor& u) {
  const Tensor x = u.unsqueeze(-1);
  const Tensor ones = at::ones_like(x);
  auto [y, dy] = warp_net_->forward_with_tangent(x, ones);
  return {u + y.squeeze(-1), at::add(ones, dy).squeeze(-1)};
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
  out.alpha = GramSolve::apply(out.warped_nodes, log_lengthscale_, log_signal_scale_, log_jitter_, values);
  out.node_values = values - jitter() * out.alpha;
  return out;
}

std::pair<Tensor, Tensor> DeepKernelInterpolantImpl::evaluate(const InterpolantFit& fit, const Tensor& t_query) {
  if (t_query.dim() != 1) throw std::invalid_argument("DeepKernelInterpolant::evaluate: expected query times [Q]");
  auto [g, dg] = warp(to_u(t_query, fit.t_first));
  const Tensor diff = g.unsqueeze(-1) - fit.warped_nodes.unsqueeze(-2);  // [Q, B]
  const Tensor inv_len = log_lengthscale_.neg().exp();
  const Tensor k = at::sub(log_signal_scale_, diff * diff * inv_len).exp();  // (x * x: square() goes through pow)
  // dk/dt = k * (-2 diff / len) * g'(u) * du/dt
  const Tensor dk = k * diff * (dg * neg_two_over_time_scale_.like(dg)).unsqueeze(-1) * inv_len;
  const int64_t q = t_query.size(0);
  const Tensor both = at::cat({k, dk}, 0).matmul(fit.alpha);  // [2Q, P]
  return {both.narrow(0, 0, q), both.narrow(0, q, q)};
}

}  // namespace amortize::sde
