#include "amortize/infer/fused_log_density.hpp"

#include "amortize/dist/continuous/delta.hpp"
#include "amortize/dist/continuous/half_cauchy.hpp"
#include "amortize/dist/continuous/normal.hpp"
#include "amortize/dist/independent.hpp"
#include "amortize/dist/multivariate/multivariate_normal.hpp"

#include <ATen/InferSize.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace amortize::infer {
namespace {
enum class Density { Normal, HalfCauchy, Given, MultivariateNormal };

// Inputs per density: Normal (value, loc, scale), HalfCauchy (value, scale), Given (log p),
// MultivariateNormal (value, loc, scale_tril).
constexpr size_t kMaxInputs = 3;
}  // namespace

struct FusedLogDensitySum::Plan {
  struct Term {
    Density density;
    size_t first;           // its first input in the input list
    size_t count;           // number of inputs
    at::DimVector shape;    // broadcast shape of its inputs (batch shape for MultivariateNormal)
    int64_t event_size;     // n for MultivariateNormal, else 0
    int64_t particle_pos;   // dim of `shape` indexing particles; -1: the term counts for every particle
    double weight;
  };
  int64_t particles = 1;
  at::ScalarType dtype = at::kDouble;
  std::vector<Term> terms;
};

namespace {
using Plan = FusedLogDensitySum::Plan;
using Term = Plan::Term;

// Carries the plan from forward to backward inside the autograd context.
struct PlanHolder : torch::CustomClassHolder {
  explicit PlanHolder(std::shared_ptr<const Plan> p) : plan(std::move(p)) {}
  std::shared_ptr<const Plan> plan;
};

constexpr double kHalfLog2Pi = 0.91893853320467274178;
constexpr double kLogTwoOverPi = -0.45158270528945486473;
constexpr double kLog2Pi = 1.83787706640934548356;

// Log-density and its partial derivatives with respect to each input, in double precision.
struct Eval {
  double log_p;
  std::array<double, kMaxInputs> d;
};

Eval normal(double x, double loc, double scale) {
  const double z = (x - loc) / scale;
  const double dz = z / scale;
  return {-0.5 * z * z - std::log(scale) - kHalfLog2Pi, {-dz, dz, (z * z - 1.0) / scale}};
}

// log(1 + r^2) taken as in dist::HalfCauchy (a separate branch where |x| > scale keeps it finite).
Eval half_cauchy(double x, double scale) {
  if (!(x >= 0)) return {-std::numeric_limits<double>::infinity(), {0.0, 0.0, 0.0}};
  const double r = x / scale;
  double log1p_r2;
  double q;   // r / (1 + r^2)
  double q2;  // r^2 / (1 + r^2)
  if (x <= scale) {
    log1p_r2 = std::log1p(r * r);
    q = r / (1.0 + r * r);
    q2 = r * q;
  } else {
    const double t = scale / x;
    log1p_r2 = 2.0 * (std::log(x) - std::log(scale)) + std::log1p(t * t);
    q = t / (1.0 + t * t);
    q2 = 1.0 / (1.0 + t * t);
  }
  return {kLogTwoOverPi - std::log(scale) - log1p_r2, {-2.0 * q / scale, -1.0 / scale + 2.0 * q2 / scale, 0.0}};
}

template <typename scalar_t>
Eval evaluate(Density density, const std::array<const scalar_t*, kMaxInputs>& ptr, const int64_t* off) {
  switch (density) {
    case Density::Normal:
      return normal(static_cast<double>(ptr[0][off[0]]), static_cast<double>(ptr[1][off[1]]),
                    static_cast<double>(ptr[2][off[2]]));
    case Density::HalfCauchy:
      return half_cauchy(static_cast<double>(ptr[0][off[0]]), static_cast<double>(ptr[1][off[1]]));
    case Density::Given:
    case Density::MultivariateNormal:  // MvnKernel's
      break;
  }
  return {static_cast<double>(ptr[0][off[0]]), {1.0, 0.0, 0.0}};
}

// Element strides with which a tensor of `sizes`/`strides` is read along the dims of `shape`
// (right-aligned; 0 along the dims it broadcasts over).
at::DimVector aligned_strides(at::IntArrayRef sizes, at::IntArrayRef strides, at::IntArrayRef shape) {
  at::DimVector out(shape.size(), 0);
  const int64_t lead = static_cast<int64_t>(shape.size()) - static_cast<int64_t>(sizes.size());
  for (int64_t d = 0; d < static_cast<int64_t>(sizes.size()); ++d) {
    if (sizes[d] != 1) out[lead + d] = strides[d];
  }
  return out;
}

// The trailing dims an input of `density` keeps per element of the term's shape.
int64_t event_rank(Density density, size_t input) {
  if (density != Density::MultivariateNormal) return 0;
  return input == 2 ? 2 : 1;
}

at::DimVector term_strides(const Term& term, size_t input, const Tensor& t) {
  const auto rank = static_cast<size_t>(event_rank(term.density, input));
  return aligned_strides(t.sizes().slice(0, t.dim() - rank), t.strides().slice(0, t.dim() - rank), term.shape);
}

// Calls fn(offsets, particle) for every index of `shape` (odometer order), where offsets[i] is
// the element offset of operand i and particle the index along dim `particle_pos` (or -1).
template <size_t N, typename Fn>
void for_each_index(at::IntArrayRef shape, const std::array<at::DimVector, N>& strides, size_t operands,
                    int64_t particle_pos, Fn&& fn) {
  const int64_t ndim = static_cast<int64_t>(shape.size());
  int64_t numel = 1;
  for (int64_t s : shape) numel *= s;
  if (numel == 0) return;
  at::DimVector counter(shape.size(), 0);
  std::array<int64_t, N> offset{};
  for (int64_t i = 0; i < numel; ++i) {
    fn(offset.data(), particle_pos >= 0 ? counter[particle_pos] : int64_t{-1});
    for (int64_t d = ndim - 1; d >= 0; --d) {
      for (size_t op = 0; op < operands; ++op) offset[op] += strides[op][d];
      if (++counter[d] < shape[d]) break;
      for (size_t op = 0; op < operands; ++op) offset[op] -= strides[op][d] * shape[d];
      counter[d] = 0;
    }
  }
}

// log N(x; loc, L L^T) for one batch element, by forward substitution L w = x - loc, and its
// gradients: d/dx = -v, d/dloc = v, d/dL = tril(v w^T) - diag(1 / L_ii), with v = L^{-T} w.
template <typename scalar_t>
class MvnKernel {
 public:
  MvnKernel(const Term& term, at::TensorList inputs) : n_(term.event_size), w_(n_), v_(n_) {
    if (term.density != Density::MultivariateNormal) return;
    const Tensor& x = inputs[term.first];
    const Tensor& loc = inputs[term.first + 1];
    const Tensor& l = inputs[term.first + 2];
    sx_ = x.stride(-1);
    sloc_ = loc.stride(-1);
    sl_row_ = l.stride(-2);
    sl_col_ = l.stride(-1);
  }

  double log_prob(const std::array<const scalar_t*, kMaxInputs>& ptr, const int64_t* off) {
    const scalar_t* l = ptr[2] + off[2];
    double log_det = 0.0;
    solve(ptr, off);
    double sq = 0.0;
    for (int64_t i = 0; i < n_; ++i) {
      sq += w_[i] * w_[i];
      log_det += std::log(static_cast<double>(l[i * sl_row_ + i * sl_col_]));
    }
    return -0.5 * (static_cast<double>(n_) * kLog2Pi + sq) - log_det;
  }

  void accumulate_gradients(const std::array<const scalar_t*, kMaxInputs>& ptr, const int64_t* off, double c,
                            const std::vector<Tensor>& grads, const Term& term,
                            const std::array<scalar_t*, kMaxInputs>& out,
                            const std::array<size_t, kMaxInputs>& out_operand) {
    const scalar_t* l = ptr[2] + off[2];
    solve(ptr, off);
    // Back substitution L^T v = w.
    for (int64_t i = n_ - 1; i >= 0; --i) {
      double acc = w_[i];
      for (int64_t k = i + 1; k < n_; ++k) acc -= static_cast<double>(l[k * sl_row_ + i * sl_col_]) * v_[k];
      v_[i] = acc / static_cast<double>(l[i * sl_row_ + i * sl_col_]);
    }
    for (size_t j = 0; j < 2; ++j) {
      if (!out[j]) continue;
      const int64_t stride = grads[term.first + j].stride(-1);
      scalar_t* g = out[j] + off[out_operand[j]];
      const double sign = j == 0 ? -1.0 : 1.0;
      for (int64_t i = 0; i < n_; ++i) g[i * stride] += static_cast<scalar_t>(sign * c * v_[i]);
    }
    if (out[2]) {
      const Tensor& gl = grads[term.first + 2];
      scalar_t* g = out[2] + off[out_operand[2]];
      const int64_t row = gl.stride(-2);
      const int64_t col = gl.stride(-1);
      for (int64_t i = 0; i < n_; ++i) {
        for (int64_t k = 0; k <= i; ++k) g[i * row + k * col] += static_cast<scalar_t>(c * v_[i] * w_[k]);
        g[i * row + i * col] -= static_cast<scalar_t>(c / static_cast<double>(l[i * sl_row_ + i * sl_col_]));
      }
    }
  }

 private:
  void solve(const std::array<const scalar_t*, kMaxInputs>& ptr, const int64_t* off) {
    const scalar_t* x = ptr[0] + off[0];
    const scalar_t* loc = ptr[1] + off[1];
    const scalar_t* l = ptr[2] + off[2];
    for (int64_t i = 0; i < n_; ++i) {
      double acc = static_cast<double>(x[i * sx_]) - static_cast<double>(loc[i * sloc_]);
      for (int64_t k = 0; k < i; ++k) acc -= static_cast<double>(l[i * sl_row_ + k * sl_col_]) * w_[k];
      w_[i] = acc / static_cast<double>(l[i * sl_row_ + i * sl_col_]);
    }
  }

  int64_t n_;
  std::vector<double> w_;
  std::vector<double> v_;
  int64_t sx_ = 0, sloc_ = 0, sl_row_ = 0, sl_col_ = 0;
};

template <typename scalar_t>
std::array<const scalar_t*, kMaxInputs> input_pointers(const Term& term, at::TensorList inputs) {
  std::array<const scalar_t*, kMaxInputs> ptr{};
  for (size_t j = 0; j < term.count; ++j) ptr[j] = inputs[term.first + j].data_ptr<scalar_t>();
  return ptr;
}

template <typename scalar_t>
void forward_kernel(const Plan& plan, at::TensorList inputs, Tensor& out) {
  const int64_t k = plan.particles;
  std::vector<double> total(k, 0.0);
  std::vector<double> by_particle(k);
  for (const Term& term : plan.terms) {
    std::array<at::DimVector, kMaxInputs> strides;
    for (size_t j = 0; j < term.count; ++j) {
      const Tensor& t = inputs[term.first + j];
      strides[j] = term_strides(term, j, t);
    }
    const auto ptr = input_pointers<scalar_t>(term, inputs);
    MvnKernel<scalar_t> mvn(term, inputs);
    std::fill(by_particle.begin(), by_particle.end(), 0.0);
    double shared = 0.0;
    for_each_index(term.shape, strides, term.count, term.particle_pos, [&](const int64_t* off, int64_t particle) {
      const double lp = term.density == Density::MultivariateNormal ? mvn.log_prob(ptr, off)
                                                                    : evaluate<scalar_t>(term.density, ptr, off).log_p;
      if (particle >= 0) {
        by_particle[particle] += lp;
      } else {
        shared += lp;
      }
    });
    for (int64_t i = 0; i < k; ++i) total[i] += term.weight * (term.particle_pos >= 0 ? by_particle[i] : shared);
  }
  scalar_t* o = out.data_ptr<scalar_t>();
  for (int64_t i = 0; i < k; ++i) o[i] = static_cast<scalar_t>(total[i]);
}

template <typename scalar_t>
void backward_kernel(const Plan& plan, at::TensorList inputs, const Tensor& grad_out, std::vector<Tensor>& grads) {
  const int64_t k = plan.particles;
  // The incoming gradient, read element by element whatever its layout (often an expanded 0-dim).
  std::vector<double> gp(k);
  const auto* gd = grad_out.data_ptr<scalar_t>();
  const int64_t g_stride = grad_out.dim() == 0 ? 0 : grad_out.stride(0);
  double g_all = 0.0;
  for (int64_t i = 0; i < k; ++i) {
    gp[i] = static_cast<double>(gd[i * g_stride]);
    g_all += gp[i];
  }
  for (const Term& term : plan.terms) {
    // Operands: the inputs, then the gradients wanted (laid out contiguously in the input's shape).
    std::array<at::DimVector, 2 * kMaxInputs> strides;
    std::array<scalar_t*, kMaxInputs> out{};
    std::array<size_t, kMaxInputs> out_operand{};
    size_t operands = term.count;
    for (size_t j = 0; j < term.count; ++j) {
      const Tensor& t = inputs[term.first + j];
      strides[j] = term_strides(term, j, t);
    }
    for (size_t j = 0; j < term.count; ++j) {
      Tensor& gt = grads[term.first + j];
      if (!gt.defined()) continue;
      out[j] = gt.data_ptr<scalar_t>();
      out_operand[j] = operands;
      strides[operands++] = term_strides(term, j, gt);
    }
    const auto ptr = input_pointers<scalar_t>(term, inputs);
    MvnKernel<scalar_t> mvn(term, inputs);
    for_each_index(term.shape, strides, operands, term.particle_pos, [&](const int64_t* off, int64_t particle) {
      const double c = term.weight * (particle >= 0 ? gp[particle] : g_all);
      if (term.density == Density::MultivariateNormal) {
        mvn.accumulate_gradients(ptr, off, c, grads, term, out, out_operand);
        return;
      }
      const Eval e = evaluate<scalar_t>(term.density, ptr, off);
      for (size_t j = 0; j < term.count; ++j) {
        if (out[j]) out[j][off[out_operand[j]]] += static_cast<scalar_t>(c * e.d[j]);
      }
    });
  }
}

class FusedSum : public torch::autograd::Function<FusedSum> {
 public:
  static Tensor forward(torch::autograd::AutogradContext* ctx, const c10::intrusive_ptr<PlanHolder>& holder,
                        at::TensorList inputs) {
    const Plan& plan = *holder->plan;
    ctx->saved_data["plan"] = c10::IValue::make_capsule(holder);
    ctx->save_for_backward(inputs.vec());
    Tensor out = at::empty({plan.particles}, inputs[0].options());
    AT_DISPATCH_FLOATING_TYPES(plan.dtype, "fused_log_density_sum", [&] { forward_kernel<scalar_t>(plan, inputs, out); });
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    if (at::GradMode::is_enabled()) {
      throw std::runtime_error("fused log-density sum: higher-order gradients (create_graph) are not supported");
    }
    const auto holder = c10::static_intrusive_pointer_cast<PlanHolder>(ctx->saved_data["plan"].toCapsule());
    const Plan& plan = *holder->plan;
    const auto inputs = ctx->get_saved_variables();
    std::vector<Tensor> grads(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      // empty + a fill here: at::zeros would cost three dispatches per input.
      if (ctx->needs_input_grad(i)) grads[i] = at::empty(inputs[i].sizes(), inputs[i].options());
    }
    AT_DISPATCH_FLOATING_TYPES(plan.dtype, "fused_log_density_sum_backward", [&] {
      for (auto& g : grads) {
        if (g.defined()) std::fill_n(g.data_ptr<scalar_t>(), g.numel(), scalar_t(0));
      }
      backward_kernel<scalar_t>(plan, inputs, grad_outputs[0], grads);
    });
    torch::autograd::variable_list out;
    out.reserve(grads.size() + 1);
    out.emplace_back();  // the plan
    for (auto& g : grads) out.push_back(std::move(g));
    return out;
  }
};

bool same_view(const Tensor& a, const Tensor& b) {
  return a.data_ptr() == b.data_ptr() && a.sizes() == b.sizes() && a.strides() == b.strides() &&
         a.scalar_type() == b.scalar_type();
}
}  // namespace

FusedLogDensitySum::FusedLogDensitySum(int64_t particles, int64_t particle_dim)
    : plan_(std::make_shared<Plan>()), particle_dim_(particle_dim) {
  plan_->particles = particles;
}

bool FusedLogDensitySum::empty() const { return plan_->terms.empty(); }

bool FusedLogDensitySum::add(const dist::Distribution& site_dist, const Tensor& value, double weight) {
  if (!value.defined()) return false;
  const dist::Distribution* d = &site_dist;
  int64_t reduced_dims = 0;  // dims log_prob sums over (from Independent wrappers)
  while (const auto* independent = dynamic_cast<const dist::Independent*>(d)) {
    reduced_dims += independent->reinterpreted_dims();
    d = independent->base().get();
  }
  Density density;
  std::array<Tensor, kMaxInputs> args;
  size_t count = 0;
  if (const auto* normal = dynamic_cast<const dist::Normal*>(d)) {
    density = Density::Normal;
    args = {value, normal->loc(), normal->scale()};
    count = 3;
  } else if (const auto* half_cauchy = dynamic_cast<const dist::HalfCauchy*>(d)) {
    density = Density::HalfCauchy;
    args = {value, half_cauchy->scale(), Tensor()};
    count = 2;
  } else if (const auto* mvn = dynamic_cast<const dist::MultivariateNormal*>(d)) {
    density = Density::MultivariateNormal;
    args = {value, mvn->loc(), mvn->scale_tril()};
    count = 3;
  } else if (const auto* delta = dynamic_cast<const dist::Delta*>(d)) {
    // Only at its own value, where log_prob is log_density (batch-shaped).
    if (!same_view(value, delta->value())) return false;
    density = Density::Given;
    args = {delta->log_density(), Tensor(), Tensor()};
    count = 1;
  } else {
    return false;
  }
  const at::ScalarType dtype = args[0].scalar_type();
  if (dtype != at::kDouble && dtype != at::kFloat) return false;
  if (!plan_->terms.empty() && dtype != plan_->dtype) return false;
  // Multivariate inputs: the shape runs over their batch dims, each element an event of size n.
  const int64_t n = density == Density::MultivariateNormal ? args[2].size(-1) : 0;
  at::DimVector shape;
  for (size_t j = 0; j < count; ++j) {
    const Tensor& a = args[j];
    if (!a.defined() || a.device().type() != at::kCPU || a.scalar_type() != dtype || a.is_sparse()) return false;
    const int64_t rank = event_rank(density, j);
    if (a.dim() < rank) return false;
    for (int64_t e = a.dim() - rank; e < a.dim(); ++e) {
      if (a.size(e) != n) return false;
    }
    try {
      shape = at::infer_size_dimvector(shape, a.sizes().slice(0, a.dim() - rank));
    } catch (const c10::Error&) {
      return false;  // the generic path reports it
    }
  }
  int64_t numel = std::max<int64_t>(n * n, 1);
  for (int64_t s : shape) numel *= s;
  const int64_t lp_dims = static_cast<int64_t>(shape.size()) - reduced_dims;
  if (numel > kMaxElements || lp_dims < 0) return false;
  int64_t particle_pos = -1;
  if (plan_->particles > 1) {
    const int64_t pos = lp_dims + particle_dim_;
    if (pos >= 0 && shape[pos] == plan_->particles) particle_pos = pos;
  }
  plan_->dtype = dtype;
  plan_->terms.push_back({density, inputs_.size(), count, shape, n, particle_pos, weight});
  for (size_t j = 0; j < count; ++j) inputs_.push_back(args[j]);
  return true;
}

Tensor FusedLogDensitySum::sum() const {
  if (plan_->terms.empty()) return {};
  // The node keeps its own copy: this object may take more terms afterwards.
  return FusedSum::apply(c10::make_intrusive<PlanHolder>(std::make_shared<const Plan>(*plan_)), at::TensorList(inputs_));
}

}  // namespace amortize::infer
