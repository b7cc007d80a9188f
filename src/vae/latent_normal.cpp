#include "amortize/vae/latent_normal.hpp"

#include "kernels.hpp"

#include <torch/csrc/autograd/custom_function.h>

namespace amortize::vae {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr double kHalfLog2Pi = 0.91893853320467274178;

bool fast(const Tensor& t) {
  return t.scalar_type() == at::kFloat && t.device().is_cpu() && t.is_contiguous() && t.layout() == at::kStrided;
}

bool needs_grad(std::initializer_list<const Tensor*> ts) {
  if (!at::GradMode::is_enabled()) return false;
  for (const Tensor* t : ts) {
    if (t->requires_grad()) return true;
  }
  return false;
}

// value's trailing sizes are the parameters' sizes (it repeats them over leading dims).
bool repeats(const Tensor& value, const Tensor& param) {
  if (value.dim() < param.dim()) return false;
  return value.sizes().slice(static_cast<size_t>(value.dim() - param.dim())) == param.sizes();
}

int64_t rows_of(const Tensor& t) { return t.numel() / t.size(-1); }

// The log-density of shape value.shape[:-1], broadcast to the distribution's batch shape.
Tensor to_batch(const Tensor& lp, const Shape& batch) {
  const auto target = at::infer_size(lp.sizes(), batch);
  return lp.sizes() == at::IntArrayRef(target) ? lp : lp.expand(target);
}

// z = loc + exp(log_scale) * eps into z; the scale into `scale`.
void rsample_into(const Tensor& loc, const Tensor& log_scale, const Tensor& eps, Tensor& scale, Tensor& z) {
  kernels::diagonal_normal_rsample(loc.data_ptr<float>(), log_scale.data_ptr<float>(), eps.data_ptr<float>(),
                                   scale.data_ptr<float>(), z.data_ptr<float>(), rows_of(eps), rows_of(loc),
                                   loc.size(-1));
}

class DiagonalRsampleFn : public torch::autograd::Function<DiagonalRsampleFn> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& loc, const Tensor& log_scale, const Tensor& eps) {
    Tensor scale = at::empty_like(loc);
    Tensor z = at::empty_like(eps);
    rsample_into(loc, log_scale, eps, scale, z);
    ctx->save_for_backward({eps, scale});
    return z;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor& eps = saved[0];
    const Tensor& scale = saved[1];
    const Tensor gz = grads[0].contiguous();
    Tensor dloc = at::empty_like(scale), dlog_scale = at::empty_like(scale);
    kernels::diagonal_normal_rsample_backward(gz.data_ptr<float>(), eps.data_ptr<float>(), scale.data_ptr<float>(),
                                              dloc.data_ptr<float>(), dlog_scale.data_ptr<float>(), rows_of(eps),
                                              rows_of(scale), scale.size(-1));
    return {dloc, dlog_scale, Tensor()};
  }
};

Tensor diagonal_log_prob_into(const Tensor& v, const Tensor& loc, const Tensor& log_scale, Tensor& inv, Tensor& u) {
  Tensor out = at::empty(v.sizes().slice(0, v.dim() - 1), v.options());
  kernels::diagonal_normal_log_prob(v.data_ptr<float>(), loc.data_ptr<float>(), log_scale.data_ptr<float>(),
                                    inv.data_ptr<float>(), u.data_ptr<float>(), out.data_ptr<float>(), rows_of(v),
                                    rows_of(loc), loc.size(-1));
  return out;
}

class DiagonalLogProbFn : public torch::autograd::Function<DiagonalLogProbFn> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& v, const Tensor& loc, const Tensor& log_scale) {
    Tensor inv = at::empty_like(loc), u = at::empty_like(v);
    Tensor out = diagonal_log_prob_into(v, loc, log_scale, inv, u);
    ctx->save_for_backward({inv, u});
    return out;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor& inv = saved[0];
    const Tensor& u = saved[1];
    const Tensor g = grads[0].contiguous();
    Tensor dv = at::empty_like(u), dloc = at::empty_like(inv), dlog_scale = at::empty_like(inv);
    kernels::diagonal_normal_log_prob_backward(g.data_ptr<float>(), inv.data_ptr<float>(), u.data_ptr<float>(),
                                               dv.data_ptr<float>(), dloc.data_ptr<float>(),
                                               dlog_scale.data_ptr<float>(), rows_of(u), rows_of(inv), inv.size(-1));
    return {dv, dloc, dlog_scale};
  }
};

Tensor standard_log_prob(const Tensor& v) {
  Tensor out = at::empty(v.sizes().slice(0, v.dim() - 1), v.options());
  kernels::standard_normal_log_prob(v.data_ptr<float>(), out.data_ptr<float>(), rows_of(v), v.size(-1));
  return out;
}

class StandardLogProbFn : public torch::autograd::Function<StandardLogProbFn> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& v) {
    ctx->save_for_backward({v});
    return standard_log_prob(v);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const Tensor v = ctx->get_saved_variables()[0];
    const Tensor g = grads[0].neg().contiguous();  // d/dv of -v^2/2 is -v
    Tensor dv = at::empty_like(v);
    kernels::scale_rows(v.data_ptr<float>(), g.data_ptr<float>(), dv.data_ptr<float>(), rows_of(v), v.size(-1));
    return {dv};
  }
};

}  // namespace

DiagonalNormal::DiagonalNormal(Tensor loc, Tensor log_scale) : loc_(std::move(loc)), log_scale_(std::move(log_scale)) {
  if (loc_.dim() < 1) throw dist::DistributionError("DiagonalNormal: loc needs an event dimension");
  if (loc_.sizes() != log_scale_.sizes()) {
    throw dist::DistributionError("DiagonalNormal: loc " + dist::shape_string(loc_.sizes()) + " and log_scale " +
                                  dist::shape_string(log_scale_.sizes()) + " differ in shape");
  }
  if (!at::isFloatingType(loc_.scalar_type()) || loc_.scalar_type() != log_scale_.scalar_type()) {
    throw dist::DistributionError("DiagonalNormal: loc and log_scale must be floating tensors of one dtype");
  }
  auto sizes = loc_.sizes().vec();
  const int64_t dim = sizes.back();
  sizes.pop_back();
  set_shapes(Shape(sizes.begin(), sizes.end()), Shape{dim});
}

Tensor DiagonalNormal::log_prob(const Tensor& value) const {
  validate_sample(value);
  if (fast(value) && fast(loc_) && fast(log_scale_) && repeats(value, loc_)) {
    Tensor lp;
    if (needs_grad({&value, &loc_, &log_scale_})) {
      lp = DiagonalLogProbFn::apply(value, loc_, log_scale_);
    } else {
      Tensor inv = at::empty_like(loc_), u = at::empty_like(value);
      lp = diagonal_log_prob_into(value, loc_, log_scale_, inv, u);
    }
    return to_batch(lp, batch_shape());
  }
  const Tensor u = (value - loc_) * at::exp(-log_scale_);
  const double dim = static_cast<double>(loc_.size(-1));
  return to_batch((-0.5 * u.square() - log_scale_).sum(-1) - dim * kHalfLog2Pi, batch_shape());
}

Tensor DiagonalNormal::rsample(const Shape& sample_shape, at::Generator gen) const {
  const Tensor eps = at::randn(extended_shape(sample_shape), std::move(gen), loc_.options());
  if (fast(loc_) && fast(log_scale_) && repeats(eps, loc_)) {
    if (needs_grad({&loc_, &log_scale_})) return DiagonalRsampleFn::apply(loc_, log_scale_, eps);
    Tensor scale = at::empty_like(loc_), z = at::empty_like(eps);
    rsample_into(loc_, log_scale_, eps, scale, z);
    return z;
  }
  return loc_ + at::exp(log_scale_) * eps;
}

Tensor DiagonalNormal::mean() const { return loc_.expand(extended_shape()); }

Tensor DiagonalNormal::variance() const { return at::exp(2 * log_scale_).expand(extended_shape()); }

dist::DistPtr DiagonalNormal::expand(const Shape& batch_shape) const {
  check_expand(batch_shape);
  auto out = std::make_shared<DiagonalNormal>(*this);
  out->set_shapes(batch_shape, event_shape());
  return out;
}

StandardNormal::StandardNormal(Shape batch_shape, int64_t dim, c10::TensorOptions options) : options_(options) {
  if (dim < 1)
    throw dist::DistributionError("StandardNormal: the event dimension must be positive, got " + std::to_string(dim));
  set_shapes(std::move(batch_shape), Shape{dim});
}

Tensor StandardNormal::log_prob(const Tensor& value) const {
  validate_sample(value);
  const int64_t dim = event_shape().back();
  if (value.dim() < 1 || value.size(-1) != dim) {
    throw dist::DistributionError("StandardNormal: value of shape " + dist::shape_string(value.sizes()) +
                                  " has no last dimension of size " + std::to_string(dim));
  }
  if (fast(value)) {
    return to_batch(needs_grad({&value}) ? StandardLogProbFn::apply(value) : standard_log_prob(value), batch_shape());
  }
  return to_batch(-0.5 * value.square().sum(-1) - static_cast<double>(dim) * kHalfLog2Pi, batch_shape());
}

Tensor StandardNormal::rsample(const Shape& sample_shape, at::Generator gen) const {
  return at::randn(extended_shape(sample_shape), std::move(gen), options_);
}

Tensor StandardNormal::mean() const { return at::zeros(extended_shape(), options_); }

Tensor StandardNormal::variance() const { return at::ones(extended_shape(), options_); }

dist::DistPtr StandardNormal::expand(const Shape& batch_shape) const {
  check_expand(batch_shape);
  auto out = std::make_shared<StandardNormal>(*this);
  out->set_shapes(batch_shape, event_shape());
  return out;
}

}  // namespace amortize::vae
