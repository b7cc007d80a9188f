#include "amortize/pavi/conditional_flow.hpp"

#include <torch/nn/functional/activation.h>

#include <cmath>
#include <stdexcept>
#include <string>

namespace amortize::pavi {
namespace {
Tensor uniform(at::IntArrayRef shape, double bound, at::Generator& gen) {
  return (at::rand(shape, gen, at::TensorOptions().dtype(at::kDouble)) * 2 - 1).mul(bound).to(at::kFloat);
}
}  // namespace

void init_linear(torch::nn::Linear& layer, at::Generator generator, bool zero) {
  torch::NoGradGuard no_grad;
  const double bound = 1.0 / std::sqrt(static_cast<double>(layer->weight.size(1)));
  if (zero) {
    layer->weight.zero_();
    if (layer->bias.defined()) layer->bias.zero_();
    return;
  }
  layer->weight.copy_(uniform(layer->weight.sizes(), bound, generator));
  if (layer->bias.defined()) layer->bias.copy_(uniform(layer->bias.sizes(), bound, generator));
}

Tensor broadcast_cat(const std::vector<Tensor>& parts, at::IntArrayRef batch) {
  std::vector<int64_t> shape(batch.begin(), batch.end());
  for (const auto& p : parts) {
    auto b = p.sizes().slice(0, p.dim() - 1);
    shape = at::infer_size(shape, b);
  }
  std::vector<Tensor> expanded;
  for (const auto& p : parts) {
    auto full = shape;
    full.push_back(p.size(-1));
    expanded.push_back(p.expand(full));
  }
  return at::cat(expanded, -1);
}

ConditionalAffineImpl::ConditionalAffineImpl(int64_t dim, int64_t context_dim, int64_t hidden, bool lower_triangular,
                                             double init_scale, at::Generator generator)
    : dim_(dim), context_dim_(context_dim), lower_(lower_triangular) {
  if (dim < 1 || context_dim < 1 || hidden < 0) {
    throw std::invalid_argument("ConditionalAffine: dim and context_dim must be positive, hidden non-negative");
  }
  if (!(init_scale > 0)) throw std::invalid_argument("ConditionalAffine: init_scale must be positive");
  scale_offset_ = std::log(std::expm1(init_scale));
  const int64_t n_lower = lower_ ? dim * (dim - 1) / 2 : 0;
  const int64_t out = 2 * dim + n_lower;
  if (hidden > 0) {
    hidden_ = register_module("hidden", torch::nn::Linear(context_dim, hidden));
    out_ = register_module("out", torch::nn::Linear(hidden, out));
    init_linear(hidden_, generator);
    init_linear(out_, generator, /*zero=*/true);
  }
  skip_ = register_module("skip", torch::nn::Linear(context_dim, out));
  init_linear(skip_, generator);
  if (lower_) {
    std::vector<int64_t> rows, cols;
    for (int64_t i = 0; i < dim; ++i) {
      for (int64_t j = 0; j < i; ++j) {
        rows.push_back(i);
        cols.push_back(j);
      }
    }
    rows_ = at::tensor(rows, at::kLong);
    cols_ = at::tensor(cols, at::kLong);
  }
}

Tensor ConditionalAffineImpl::conditioner(const Tensor& context) {
  Tensor p = skip_->forward(context);
  if (hidden_) p = p + out_->forward(at::elu(hidden_->forward(context)));
  return p;
}

std::pair<Tensor, Tensor> ConditionalAffineImpl::shift_and_factor(const Tensor& context) {
  if (context.size(-1) != context_dim_) {
    throw std::invalid_argument("ConditionalAffine: expected a context [..., " + std::to_string(context_dim_) + "]");
  }
  Tensor p = conditioner(context);
  Tensor factor = at::diag_embed(at::softplus(p.narrow(-1, dim_, dim_) + scale_offset_));
  if (lower_ && rows_.numel() > 0) {
    const auto square_shape = factor.sizes().vec();
    auto flat_shape = square_shape;
    flat_shape.pop_back();
    flat_shape.back() = dim_ * dim_;
    Tensor at_flat = (rows_ * dim_ + cols_).to(context.device());
    factor =
        factor.reshape(flat_shape).index_add(-1, at_flat, p.narrow(-1, 2 * dim_, rows_.numel())).view(square_shape);
  }
  return {p.narrow(-1, 0, dim_), factor};
}

std::pair<Tensor, Tensor> ConditionalAffineImpl::forward(const Tensor& u, const Tensor& context) {
  if (u.size(-1) != dim_ || context.size(-1) != context_dim_) {
    throw std::invalid_argument("ConditionalAffine: expected u [..., " + std::to_string(dim_) + "] and context [..., " +
                                std::to_string(context_dim_) + "]");
  }
  Tensor p = conditioner(context);
  Tensor shift = p.narrow(-1, 0, dim_);
  Tensor scale = at::softplus(p.narrow(-1, dim_, dim_) + scale_offset_);
  Tensor z = shift + scale * u;
  if (lower_ && rows_.numel() > 0) {
    Tensor off = p.narrow(-1, 2 * dim_, rows_.numel());
    Tensor uu = u.expand_as(z);
    Tensor contrib = off * uu.index_select(-1, cols_.to(u.device()));
    z = z.index_add(-1, rows_.to(u.device()), contrib);
  }
  Tensor log_det = scale.log().sum(-1);
  return {z, log_det};
}

namespace {
void zero_columns(const Tensor& weight, int64_t first) {
  torch::NoGradGuard no_grad;
  if (first < weight.size(1)) weight.narrow(1, first, weight.size(1) - first).zero_();
}
}  // namespace

void ConditionalAffineImpl::zero_context_weights(int64_t first) {
  zero_columns(skip_->weight, first);
  if (hidden_) zero_columns(hidden_->weight, first);
}

void ConditionalAutoregressiveImpl::zero_context_weights(int64_t first) {
  zero_columns(w_ctx_, first);
  zero_columns(w_skip_ctx_, first);
}

void ConditionalFlowImpl::zero_context_weights(int64_t first) {
  for (auto& layer : layers_) layer->zero_context_weights(first);
}

ConditionalAutoregressiveImpl::ConditionalAutoregressiveImpl(int64_t dim, int64_t context_dim, int64_t hidden,
                                                             bool reverse, at::Generator generator)
    : dim_(dim), reverse_(reverse) {
  if (dim < 1 || context_dim < 1 || hidden < 1) {
    throw std::invalid_argument("ConditionalAutoregressive: dim, context_dim and hidden must be positive");
  }
  // MADE degrees: input i has degree i + 1, hidden units 1..max(1, D - 1), outputs i + 1.
  auto in_deg = at::arange(1, dim + 1, at::kLong);
  auto hid_deg = at::arange(hidden, at::kLong).remainder(std::max<int64_t>(1, dim - 1)) + 1;
  auto out_deg = at::cat({in_deg, in_deg});
  mask_in_ = (hid_deg.unsqueeze(1) >= in_deg.unsqueeze(0)).to(at::kFloat);   // [H, D]
  mask_out_ = (out_deg.unsqueeze(1) > hid_deg.unsqueeze(0)).to(at::kFloat);  // [2D, H]
  mask_skip_ = (out_deg.unsqueeze(1) > in_deg.unsqueeze(0)).to(at::kFloat);  // [2D, D]
  const double b_in = 1.0 / std::sqrt(static_cast<double>(dim + context_dim));
  const double b_out = 1.0 / std::sqrt(static_cast<double>(hidden));
  w_in_ = register_parameter("w_in", uniform({hidden, dim}, b_in, generator));
  w_ctx_ = register_parameter("w_ctx", uniform({hidden, context_dim}, b_in, generator));
  b_in_ = register_parameter("b_in", uniform({hidden}, b_in, generator));
  w_out_ = register_parameter("w_out", at::zeros({2 * dim, hidden}));
  b_out_ = register_parameter("b_out", at::zeros({2 * dim}));
  w_skip_ = register_parameter("w_skip", at::zeros({2 * dim, dim}));
  w_skip_ctx_ = register_parameter("w_skip_ctx", uniform({2 * dim, context_dim}, b_out, generator) * 0.1);
  mask_in_ = register_buffer("mask_in", mask_in_);
  mask_out_ = register_buffer("mask_out", mask_out_);
  mask_skip_ = register_buffer("mask_skip", mask_skip_);
}

std::pair<Tensor, Tensor> ConditionalAutoregressiveImpl::forward(const Tensor& u_in, const Tensor& context) {
  Tensor u = reverse_ ? u_in.flip(-1) : u_in;
  Tensor h = at::elu(at::linear(u, w_in_ * mask_in_) + at::linear(context, w_ctx_, b_in_));
  Tensor p = at::linear(h, w_out_ * mask_out_, b_out_) + at::linear(u, w_skip_ * mask_skip_) +
             at::linear(context, w_skip_ctx_);
  Tensor shift = p.narrow(-1, 0, dim_);
  // Starts at the identity map: softplus(x + log(e - 1)) = 1 at x = 0.
  Tensor scale = at::softplus(p.narrow(-1, dim_, dim_) + std::log(std::expm1(1.0)));
  Tensor z = shift + scale * u;
  if (reverse_) z = z.flip(-1);
  return {z, scale.log().sum(-1)};
}

ConditionalFlowImpl::ConditionalFlowImpl(int64_t dim, int64_t context_dim, ConditionalFlowOptions o,
                                         at::Generator generator)
    : dim_(dim), context_dim_(context_dim) {
  if (o.affine_layers < 0 || o.autoregressive_layers < 0 || o.affine_layers + o.autoregressive_layers < 1) {
    throw std::invalid_argument("ConditionalFlow: needs at least one layer");
  }
  for (int64_t i = 0; i < o.affine_layers; ++i) {
    // Only the first affine layer sets the initial scale; later ones start near the identity.
    auto layer = std::make_shared<ConditionalAffineImpl>(dim, context_dim, o.linear_affine ? 0 : o.hidden,
                                                         o.lower_triangular, i == 0 ? o.init_scale : 1.0, generator);
    layers_.push_back(register_module("affine" + std::to_string(i), layer));
  }
  for (int64_t i = 0; i < o.autoregressive_layers; ++i) {
    auto layer = std::make_shared<ConditionalAutoregressiveImpl>(dim, context_dim, o.hidden, i % 2 == 1, generator);
    layers_.push_back(register_module("autoregressive" + std::to_string(i), layer));
  }
}

std::optional<std::pair<Tensor, Tensor>> ConditionalFlowImpl::gaussian(const Tensor& context) {
  Tensor shift, factor;
  for (auto& layer : layers_) {
    auto* affine = dynamic_cast<ConditionalAffineImpl*>(layer.get());
    if (!affine) return std::nullopt;
    auto [s, l] = affine->shift_and_factor(context);
    if (!shift.defined()) {
      shift = s;
      factor = l;
    } else {
      shift = s + at::matmul(l, shift.unsqueeze(-1)).squeeze(-1);
      factor = at::matmul(l, factor);
    }
  }
  return std::make_pair(shift, factor);
}

std::pair<Tensor, Tensor> ConditionalFlowImpl::forward(const Tensor& u, const Tensor& context) {
  Tensor z = u;
  Tensor log_det;
  for (auto& layer : layers_) {
    auto [next, ld] = layer->forward(z, context);
    z = next;
    log_det = log_det.defined() ? log_det + ld : ld;
  }
  return {z, log_det};
}

}  // namespace amortize::pavi
