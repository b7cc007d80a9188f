#include "amortize/vae/fused_ops.hpp"

#include "blas_products.hpp"
#include "kernels.hpp"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <vector>

namespace amortize::vae {
namespace {
thread_local WeightGradientScope* innermost_weight_gradient_scope = nullptr;

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

bool fast(const Tensor& t) {
  return t.scalar_type() == at::kFloat && t.device().is_cpu() && t.is_contiguous() && t.layout() == at::kStrided;
}

bool needs_grad(const Tensor& t) { return at::GradMode::is_enabled() && t.requires_grad(); }

constexpr int64_t kGrain = 1 << 15;  // elements per parallel chunk

// x W^T for x (rows, in) and weight (out, in), all fast(): the BLAS call of at::mm(x, weight.t()),
// or at::mm itself without a BLAS in the process.
Tensor times_weight_t(const Tensor& x, const Tensor& weight) {
  if (!blas::available()) return at::mm(x, weight.t());
  Tensor y = at::empty({x.size(0), weight.size(0)}, x.options());
  blas::gemm(x.data_ptr<float>(), false, weight.data_ptr<float>(), true, y.data_ptr<float>(), x.size(0), weight.size(0),
             x.size(1), 0.0f);
  return y;
}

// Rows [begin, end) of dw = dy^T x + beta dw (all contiguous float32); for all rows and beta 0 the
// BLAS call of at::mm(dy.t(), x).
void weight_gradient_product(const Tensor& dy, const Tensor& x, Tensor& dw, float beta, int64_t begin, int64_t end) {
  const int64_t out = dy.size(1), in = x.size(1);
  blas::gemm(dy.data_ptr<float>() + begin, true, out, x.data_ptr<float>(), false, in, dw.data_ptr<float>() + begin * in,
             in, end - begin, in, dy.size(0), beta);
}

// The input's and the weight's gradients of x W^T given dy (rows, out), contiguous float32:
// dy W (if wanted) and dy^T x, as at::mm(dy, weight) and at::mm(dy.t(), x); the latter added
// into the weight's buffer when a WeightGradientScope has one (or recorded, if it defers).
std::pair<Tensor, Tensor> linear_input_and_weight_grads(const Tensor& dy, const Tensor& x, const Tensor& weight,
                                                        bool input_grad) {
  if (!blas::available()) return {input_grad ? at::mm(dy, weight) : Tensor(), at::mm(dy.t(), x)};
  const WeightGradientScope::Slot slot = WeightGradientScope::slot_for(weight);
  const Tensor* buffer = slot.buffer;
  Tensor dx, dw = buffer ? *buffer : at::empty_like(weight);
  if (input_grad) {
    dx = at::empty_like(x);
    blas::gemm(dy.data_ptr<float>(), false, weight.data_ptr<float>(), false, dx.data_ptr<float>(), dy.size(0),
               weight.size(1), dy.size(1), 0.0f);
  }
  if (!buffer) {
    weight_gradient_product(dy, x, dw, 0.0f, 0, dw.size(0));
  } else if (slot.scope->defers()) {
    slot.scope->defer({slot.index, dy, x, kernels::max_abs(dy.data_ptr<float>(), dy.numel())});
  } else {
    weight_gradient_product(dy, x, dw, 1.0f, 0, dw.size(0));
    slot.scope->check_buffer(slot.index);
  }
  return {dx, dw};
}

// h = softplus(a) and, if `sig` is defined, sig = sigmoid(a); all contiguous float32.
void softplus_into(const Tensor& a, Tensor& h, Tensor* sig) {
  const float* pa = a.data_ptr<float>();
  float* ph = h.data_ptr<float>();
  float* ps = sig ? sig->data_ptr<float>() : nullptr;
  at::parallel_for(0, a.numel(), kGrain, [&](int64_t begin, int64_t end) {
    kernels::softplus(pa + begin, ph + begin, ps ? ps + begin : nullptr, end - begin);
  });
}

class SoftplusFn : public torch::autograd::Function<SoftplusFn> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& a) {
    Tensor h = at::empty_like(a);
    Tensor sig = at::empty_like(a);
    softplus_into(a, h, &sig);
    ctx->save_for_backward({sig});
    return h;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {grads[0] * ctx->get_saved_variables()[0]};
  }
};

// softplus(x W^T + b) for x (rows, in): one product without the bias (addmm would first copy
// the broadcast bias into the output), then the bias added inside the softplus pass; the
// backward gives the bias's gradient from the same pass as the pre-activation's.
class LinearSoftplusFn : public torch::autograd::Function<LinearSoftplusFn> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& weight, const Tensor& bias) {
    const Tensor a = times_weight_t(x, weight);
    Tensor h = at::empty_like(a), sig = at::empty_like(a);
    kernels::softplus_bias(a.data_ptr<float>(), bias.data_ptr<float>(), h.data_ptr<float>(), sig.data_ptr<float>(),
                           a.size(0), a.size(1));
    ctx->save_for_backward({x, weight, sig});
    return h;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor& x = saved[0];
    const Tensor& weight = saved[1];
    const Tensor& sig = saved[2];
    const Tensor g = grads[0].contiguous();
    Tensor da = at::empty_like(sig), dbias = at::empty({sig.size(1)}, sig.options());
    kernels::softplus_bias_backward(g.data_ptr<float>(), sig.data_ptr<float>(), da.data_ptr<float>(),
                                    dbias.data_ptr<float>(), sig.size(0), sig.size(1));
    auto [dx, dweight] = linear_input_and_weight_grads(da, x, weight, ctx->needs_input_grad(0));
    return {dx, dweight, dbias};
  }
};

// x W^T + b for x (rows, in) as one node whose products call the BLAS directly: the forward is
// at::addmm's (the bias copied into the output, then the product added), the backward at::linear's
// (dy W, dy^T x, and dy summed over the rows for the bias).
class LinearFn : public torch::autograd::Function<LinearFn> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& weight, const Tensor& bias) {
    Tensor y = at::empty({x.size(0), weight.size(0)}, x.options());
    kernels::repeat_row(bias.data_ptr<float>(), y.data_ptr<float>(), y.size(0), y.size(1));
    blas::gemm(x.data_ptr<float>(), false, weight.data_ptr<float>(), true, y.data_ptr<float>(), x.size(0),
               weight.size(0), x.size(1), 1.0f);
    ctx->save_for_backward({x, weight});
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor dy = grads[0].contiguous();
    auto [dx, dweight] = linear_input_and_weight_grads(dy, saved[0], saved[1], ctx->needs_input_grad(0));
    return {dx, dweight, dy.sum(0)};
  }
};

// The fast path: d (if defined) receives x - sigmoid(l).
Tensor bernoulli_forward(const Tensor& logits, const Tensor& x, Tensor* d) {
  const int64_t cols = logits.size(-1);
  const int64_t rows = cols == 0 ? 0 : logits.numel() / cols;
  const int64_t x_rows = cols == 0 ? 1 : std::max<int64_t>(1, x.numel() / cols);
  Tensor out = at::empty(logits.sizes().slice(0, logits.dim() - 1), logits.options());
  const float* pl = logits.data_ptr<float>();
  const float* px = x.data_ptr<float>();
  float* po = out.data_ptr<float>();
  float* pd = d ? d->data_ptr<float>() : nullptr;
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, cols));
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> term(static_cast<size_t>(cols));
    kernels::bernoulli_logits(pl, px, po, pd, begin, end, cols, x_rows, term.data());
  });
  return out;
}

class BernoulliFn : public torch::autograd::Function<BernoulliFn> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& logits, const Tensor& x) {
    Tensor d = at::empty_like(logits);
    Tensor out = bernoulli_forward(logits, x, &d);
    ctx->save_for_backward({d});
    return out;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const Tensor d = ctx->get_saved_variables()[0];
    const Tensor g = grads[0].to(at::kFloat).contiguous();
    // ATen's broadcasting multiply takes ~10x longer per element here than this row loop.
    Tensor out = at::empty_like(d);
    const int64_t cols = d.size(-1);
    const int64_t rows = cols == 0 ? 0 : d.numel() / cols;
    const float* pd = d.data_ptr<float>();
    const float* pg = g.data_ptr<float>();
    float* po = out.data_ptr<float>();
    const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, cols));
    at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
      kernels::scale_rows(pd + begin * cols, pg + begin, po + begin * cols, end - begin, cols);
    });
    return {out, Tensor()};
  }
};

// Any dtype or layout: the same density through ATen (with s = 1 - 2x, -sum softplus(s l)).
class BernoulliComposite : public torch::autograd::Function<BernoulliComposite> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& logits, const Tensor& x) {
    ctx->save_for_backward({logits, x});
    return -at::softplus((1 - 2 * x) * logits).sum(-1);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    return {(saved[1] - at::sigmoid(saved[0])).mul_(grads[0].unsqueeze(-1)), Tensor()};
  }
};

// x's sizes are the logits' trailing sizes (it repeats over the leading ones).
bool trailing_shape(const Tensor& logits, const Tensor& x) {
  if (x.dim() < 1 || x.dim() > logits.dim()) return false;
  return logits.sizes().slice(static_cast<size_t>(logits.dim() - x.dim())) == x.sizes();
}

}  // namespace

void add_weight_gradient(const Tensor& dy, const Tensor& x, Tensor& buffer, int64_t row_begin, int64_t row_end) {
  if (row_begin < 0 || row_begin > row_end || row_end > buffer.size(0)) {
    throw std::invalid_argument("add_weight_gradient: rows [" + std::to_string(row_begin) + ", " +
                                std::to_string(row_end) + ") of a buffer with " + std::to_string(buffer.size(0)));
  }
  if (row_begin < row_end) weight_gradient_product(dy, x, buffer, 1.0f, row_begin, row_end);
}

WeightGradientScope::WeightGradientScope(const std::vector<Tensor>& weights, const std::vector<Tensor>& buffers,
                                         bool defer)
    : weights_(weights), buffers_(buffers), outer_(innermost_weight_gradient_scope), defer_(defer) {
  if (weights_.size() != buffers_.size()) {
    throw std::invalid_argument("WeightGradientScope: " + std::to_string(weights_.size()) + " weights but " +
                                std::to_string(buffers_.size()) + " buffers");
  }
  for (size_t i = 0; i < weights_.size(); ++i) {
    const Tensor& w = weights_[i];
    const Tensor& b = buffers_[i];
    if (!b.defined() || !b.is_contiguous() || b.sizes() != w.sizes() || b.scalar_type() != w.scalar_type() ||
        b.device() != w.device()) {
      throw std::invalid_argument("WeightGradientScope: buffer " + std::to_string(i) +
                                  " is not a contiguous tensor of its weight's shape " + dist::shape_string(w.sizes()) +
                                  ", dtype and device");
    }
  }
  innermost_weight_gradient_scope = this;
}

WeightGradientScope::~WeightGradientScope() { innermost_weight_gradient_scope = outer_; }

WeightGradientScope::Slot WeightGradientScope::slot_for(const Tensor& weight) {
  for (WeightGradientScope* s = innermost_weight_gradient_scope; s; s = s->outer_) {
    for (size_t i = 0; i < s->weights_.size(); ++i) {
      if (s->weights_[i].is_same(weight)) return {&s->buffers_[i], s, i};
    }
  }
  return {};
}

void WeightGradientScope::check_buffer(size_t index) {
  const Tensor& b = buffers_.at(index);
  const bool finite = fast(b) ? kernels::all_finite(b.data_ptr<float>(), b.numel()) : b.isfinite().all().item<bool>();
  if (!finite && (first_nonfinite_ < 0 || static_cast<int64_t>(index) < first_nonfinite_)) {
    first_nonfinite_ = static_cast<int64_t>(index);
  }
}

Tensor softplus(const Tensor& a) {
  if (!fast(a)) return at::softplus(a);
  if (needs_grad(a)) return SoftplusFn::apply(a);
  Tensor h = at::empty_like(a);
  softplus_into(a, h, nullptr);
  return h;
}

Tensor linear_softplus(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const bool ok = x.dim() >= 1 && weight.dim() == 2 && bias.dim() == 1 && x.size(-1) == weight.size(1) &&
                  bias.size(0) == weight.size(0);
  if (!ok) {
    throw std::invalid_argument("linear_softplus: input " + dist::shape_string(x.sizes()) + ", weight " +
                                dist::shape_string(weight.sizes()) + " and bias " + dist::shape_string(bias.sizes()) +
                                " do not fit");
  }
  if (!fast(x) || !fast(weight) || !fast(bias) || x.numel() == 0) return vae::softplus(at::linear(x, weight, bias));
  auto out_shape = x.sizes().vec();
  out_shape.back() = weight.size(0);
  const bool flat = x.dim() == 2;  // (particles, batch, in) runs as one (particles * batch, in) product
  const Tensor x2 = flat ? x : x.reshape({-1, x.size(-1)});
  Tensor h;
  if (needs_grad(x) || needs_grad(weight) || needs_grad(bias)) {
    h = LinearSoftplusFn::apply(x2, weight, bias);
  } else {
    const Tensor a = times_weight_t(x2, weight);
    h = at::empty_like(a);
    kernels::softplus_bias(a.data_ptr<float>(), bias.data_ptr<float>(), h.data_ptr<float>(), nullptr, a.size(0),
                           a.size(1));
  }
  return flat ? h : h.view(out_shape);
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const bool ok = x.dim() >= 1 && weight.dim() == 2 && bias.dim() == 1 && x.size(-1) == weight.size(1) &&
                  bias.size(0) == weight.size(0);
  if (!ok) {
    throw std::invalid_argument("linear: input " + dist::shape_string(x.sizes()) + ", weight " +
                                dist::shape_string(weight.sizes()) + " and bias " + dist::shape_string(bias.sizes()) +
                                " do not fit");
  }
  if (!fast(x) || !fast(weight) || !fast(bias) || x.numel() == 0 || weight.numel() == 0 || !blas::available()) {
    return at::linear(x, weight, bias);
  }
  const bool flat = x.dim() == 2;
  const Tensor x2 = flat ? x : x.reshape({-1, x.size(-1)});
  Tensor y = LinearFn::apply(x2, weight, bias);  // without gradients it records no graph
  if (flat) return y;
  auto out_shape = x.sizes().vec();
  out_shape.back() = weight.size(0);
  return y.view(out_shape);
}

Tensor bernoulli_logits_log_prob(const Tensor& logits, const Tensor& x) {
  if (logits.dim() < 1) throw std::invalid_argument("bernoulli_logits_log_prob: logits need a last dimension");
  if (!fast(logits) || !fast(x) || !trailing_shape(logits, x)) {
    const auto shape = at::infer_size(x.sizes(), logits.sizes());
    const Tensor l = logits.sizes() == at::IntArrayRef(shape) ? logits : logits.expand(shape);
    return BernoulliComposite::apply(l, x.scalar_type() == l.scalar_type() ? x : x.to(l.scalar_type()));
  }
  if (needs_grad(logits)) return BernoulliFn::apply(logits, x);
  return bernoulli_forward(logits, x, nullptr);
}

}  // namespace amortize::vae
