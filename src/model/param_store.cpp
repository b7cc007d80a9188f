#include "amortize/model/param_store.hpp"

#include "amortize/dist/transforms/biject_to.hpp"
#include "amortize/dist/transforms/exp_transform.hpp"
#include "amortize/dist/transforms/lower_cholesky_transform.hpp"
#include "amortize/model/handler.hpp"

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace amortize::model {
namespace {
ParamStore& global_store() {
  static ParamStore store;
  return store;
}
thread_local ParamStore* t_active = nullptr;

// y = max(exp(u), tiny); dy/du = exp(u) where exp(u) >= tiny, else 0 (clamp_min's subgradient).
class ClampedExp : public torch::autograd::Function<ClampedExp> {
 public:
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& u) {
    ctx->save_for_backward({u});
    Tensor y = at::empty(u.sizes(), u.options());
    AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "clamped_exp", [&] {
      const scalar_t tiny = std::numeric_limits<scalar_t>::min();
      const scalar_t* in = u.data_ptr<scalar_t>();
      scalar_t* out = y.data_ptr<scalar_t>();
      for (int64_t i = 0, n = u.numel(); i < n; ++i) out[i] = std::max(static_cast<scalar_t>(std::exp(in[i])), tiny);
    });
    return y;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const Tensor u = ctx->get_saved_variables()[0];
    if (at::GradMode::is_enabled()) {  // a graph of the gradient (create_graph): differentiable operations
      const Tensor e = u.exp();
      return {at::where(e >= tiny_of(u), grads[0] * e, at::zeros_like(e))};
    }
    const Tensor g = grads[0].contiguous();
    Tensor du = at::empty(u.sizes(), u.options());
    AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "clamped_exp_backward", [&] {
      const scalar_t tiny = std::numeric_limits<scalar_t>::min();
      const scalar_t* in = u.data_ptr<scalar_t>();
      const scalar_t* gi = g.data_ptr<scalar_t>();
      scalar_t* out = du.data_ptr<scalar_t>();
      for (int64_t i = 0, n = u.numel(); i < n; ++i) {
        const auto e = static_cast<scalar_t>(std::exp(in[i]));
        out[i] = e >= tiny ? gi[i] * e : scalar_t(0);
      }
    });
    return {du};
  }

 private:
  static double tiny_of(const Tensor& t) {
    double tiny = 0.0;
    AT_DISPATCH_FLOATING_TYPES(t.scalar_type(), "tiny", [&] { tiny = std::numeric_limits<scalar_t>::min(); });
    return tiny;
  }
};

// dist::LowerCholeskyTransform in one node: x (..., K(K+1)/2) holds the strict lower triangle
// row by row, then the log-diagonal; y (..., K, K) is that triangle, max(exp(diagonal), tiny)
// and zeros above.
class LowerCholeskyFromVector : public torch::autograd::Function<LowerCholeskyFromVector> {
 public:
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& x, int64_t k) {
    ctx->save_for_backward({x});
    ctx->saved_data["k"] = k;
    std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end() - 1);
    shape.push_back(k);
    shape.push_back(k);
    Tensor y = at::empty(shape, x.options());
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lower_cholesky", [&] {
      const scalar_t tiny = std::numeric_limits<scalar_t>::min();
      const int64_t len = x.size(-1);
      const int64_t strict = k * (k - 1) / 2;
      const scalar_t* in = x.data_ptr<scalar_t>();
      scalar_t* out = y.data_ptr<scalar_t>();
      for (int64_t b = 0, batches = x.numel() / len; b < batches; ++b, in += len, out += k * k) {
        for (int64_t r = 0; r < k; ++r) {
          for (int64_t c = 0; c < k; ++c) {
            out[r * k + c] = r > c ? in[r * (r - 1) / 2 + c]
                                   : (r == c ? std::max(static_cast<scalar_t>(std::exp(in[strict + r])), tiny) : scalar_t(0));
          }
        }
      }
    });
    return y;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const Tensor x = ctx->get_saved_variables()[0];
    const int64_t k = ctx->saved_data["k"].toInt();
    if (at::GradMode::is_enabled()) {  // a graph of the gradient (create_graph): the transform's own operations
      Tensor y = dist::LowerCholeskyTransform().forward(x);
      return {torch::autograd::grad({y}, {x}, {grads[0]}, /*retain_graph=*/true, /*create_graph=*/true)[0], Tensor()};
    }
    const Tensor g = grads[0].contiguous();
    Tensor dx = at::empty(x.sizes(), x.options());
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lower_cholesky_backward", [&] {
      const scalar_t tiny = std::numeric_limits<scalar_t>::min();
      const int64_t len = x.size(-1);
      const int64_t strict = k * (k - 1) / 2;
      const scalar_t* in = x.data_ptr<scalar_t>();
      const scalar_t* gi = g.data_ptr<scalar_t>();
      scalar_t* out = dx.data_ptr<scalar_t>();
      for (int64_t b = 0, batches = x.numel() / len; b < batches; ++b, in += len, out += len, gi += k * k) {
        for (int64_t r = 0; r < k; ++r) {
          for (int64_t c = 0; c < r; ++c) out[r * (r - 1) / 2 + c] = gi[r * k + c];
          const auto e = static_cast<scalar_t>(std::exp(in[strict + r]));
          out[strict + r] = e >= tiny ? gi[r * k + r] * e : scalar_t(0);
        }
      }
    });
    return {dx, Tensor()};
  }
};
}  // namespace

Tensor constrain(const dist::Transform& transform, const Tensor& unconstrained) {
  const Tensor& u = unconstrained;
  const bool plain = u.device().is_cpu() && u.is_contiguous() && (u.scalar_type() == at::kDouble || u.scalar_type() == at::kFloat);
  if (plain && dynamic_cast<const dist::ExpTransform*>(&transform)) return ClampedExp::apply(u);
  if (plain && u.dim() >= 1 && dynamic_cast<const dist::LowerCholeskyTransform*>(&transform)) {
    const int64_t k = dist::LowerCholeskyTransform::matrix_size(u.size(-1));
    return LowerCholeskyFromVector::apply(u, k);
  }
  return transform.forward(u);
}

Tensor ParamStore::get_or_create(const std::string& name, const Tensor& init, const dist::Constraint& constraint) {
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    if (!init.defined()) throw ModelError("param '" + name + "': no initial value and not in the parameter store");
    auto transform = dist::biject_to(constraint);
    at::NoGradGuard no_grad;
    auto inside = constraint.check(init);
    if (!inside.all().item<bool>()) {
      throw ModelError("param '" + name + "': initial value outside its constraint " + constraint.name());
    }
    Tensor unconstrained = transform->inverse(init.detach()).clone().set_requires_grad(true);
    it = entries_.emplace(name, Entry{unconstrained, constraint, transform}).first;
  }
  return constrain(*it->second.transform, it->second.unconstrained);
}

void ParamStore::set_unconstrained(const std::string& name, const Tensor& unconstrained,
                                   const dist::Constraint& constraint) {
  entries_[name] = Entry{unconstrained, constraint, dist::biject_to(constraint)};
}

void ParamStore::assign(const std::string& name, const Tensor& constrained_value) {
  auto it = entries_.find(name);
  if (it == entries_.end()) throw ModelError("param '" + name + "' is not in the parameter store");
  at::NoGradGuard no_grad;
  it->second.unconstrained.copy_(it->second.transform->inverse(constrained_value.detach()));
}

Tensor ParamStore::constrained(const std::string& name) const {
  const auto& e = entry(name);
  return constrain(*e.transform, e.unconstrained);
}

const ParamStore::Entry& ParamStore::entry(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) throw ModelError("param '" + name + "' is not in the parameter store");
  return it->second;
}

std::vector<Tensor> ParamStore::parameters() const {
  std::vector<Tensor> out;
  for (const auto& [name, e] : entries_) {
    if (e.unconstrained.requires_grad()) out.push_back(e.unconstrained);
  }
  return out;
}

std::vector<std::string> ParamStore::names() const {
  std::vector<std::string> out;
  for (const auto& [name, e] : entries_) out.push_back(name);
  return out;
}

ParamStore& active_param_store() { return t_active ? *t_active : global_store(); }

ParamStoreScope::ParamStoreScope(ParamStore& store) : previous_(t_active) { t_active = &store; }
ParamStoreScope::~ParamStoreScope() { t_active = previous_; }

}  // namespace amortize::model
