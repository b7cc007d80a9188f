#include "amortize/sde/adjoint.hpp"

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>

#include <stdexcept>
#include <utility>

namespace amortize::sde {
namespace {

using torch::autograd::variable_list;

Tensor time_tensor(const Tensor& z, double t) {
  auto lead = z.sizes().vec();
  if (!lead.empty()) lead.pop_back();
  return at::full(lead, t, z.options().requires_grad(false));
}

int64_t states(const Tensor& z) { return z.dim() <= 1 ? 1 : z.numel() / z.size(-1); }

class AdjointBackward : public torch::autograd::Node {
 public:
  AdjointBackward(DriftFn drift, std::vector<Tensor> params, Tensor trajectory, std::vector<double> times,
                  AdjointOptions options)
      : drift_(std::move(drift)),
        params_(std::move(params)),
        trajectory_(std::move(trajectory)),
        times_(std::move(times)),
        options_(options) {}

  std::string name() const override { return "AdjointBackward"; }

  variable_list apply(variable_list&& grads) override {
    const Tensor& traj = trajectory_;
    const Tensor g_out = grads[0].defined() ? grads[0] : at::zeros_like(traj);
    const int64_t zn = traj[0].numel();
    std::vector<int64_t> pn;
    int64_t ptotal = 0;
    for (const auto& p : params_) {
      pn.push_back(p.numel());
      ptotal += p.numel();
    }
    const auto zshape = traj[0].sizes().vec();
    const int64_t n_states = states(traj[0]);
    OdeFn aug = [&](double t, const Tensor& y) {
      torch::AutoGradMode enable(true);
      const Tensor z = y.narrow(0, 0, zn).view(zshape).detach().requires_grad_(true);
      const Tensor a = y.narrow(0, zn, zn).view(zshape);
      if (options_.backward_nfe) options_.backward_nfe->add(n_states);
      const Tensor f = drift_(z, time_tensor(z, t));
      std::vector<Tensor> inputs{z};
      inputs.insert(inputs.end(), params_.begin(), params_.end());
      auto vjp = torch::autograd::grad({f}, inputs, {a.detach()}, /*retain_graph=*/false, /*create_graph=*/false,
                                       /*allow_unused=*/true);
      std::vector<Tensor> parts{f.detach().reshape(-1)};
      parts.push_back(-(vjp[0].defined() ? vjp[0] : at::zeros_like(z)).reshape(-1));
      for (size_t i = 0; i < params_.size(); ++i)
        parts.push_back(vjp[i + 1].defined() ? -vjp[i + 1].reshape(-1) : at::zeros({pn[i]}, y.options()));
      return at::cat(parts);
    };
    const int64_t nt = static_cast<int64_t>(times_.size());
    Tensor a = g_out[nt - 1].detach();
    Tensor gp = at::zeros({ptotal}, traj.options());
    for (int64_t i = nt - 1; i > 0; --i) {
      const Tensor y = at::cat({traj[i].reshape(-1), a.reshape(-1), gp});
      const Tensor y_end = dopri5(aug, y, {times_[static_cast<size_t>(i)], times_[static_cast<size_t>(i - 1)]},
                                  options_.backward)[1];
      a = y_end.narrow(0, zn, zn).view(zshape) + g_out[i - 1];
      gp = y_end.narrow(0, 2 * zn, ptotal);
    }
    variable_list result{a};
    int64_t offset = 0;
    for (size_t i = 0; i < params_.size(); ++i) {
      result.push_back(gp.narrow(0, offset, pn[i]).view(params_[i].sizes()));
      offset += pn[i];
    }
    return result;
  }

 private:
  DriftFn drift_;
  std::vector<Tensor> params_;
  Tensor trajectory_;
  std::vector<double> times_;
  AdjointOptions options_;
};

}  // namespace

Tensor odeint_adjoint(const DriftFn& drift, const std::vector<Tensor>& params, const Tensor& z0,
                      const std::vector<double>& times, const AdjointOptions& options) {
  if (times.size() < 2) throw std::invalid_argument("odeint_adjoint: need at least two output times");
  Tensor trajectory;
  {
    at::NoGradGuard ng;
    const int64_t n_states = states(z0);
    NfeCounter* nfe = options.forward_nfe;
    OdeFn f = [&](double t, const Tensor& z) {
      if (nfe) nfe->add(n_states);
      return drift(z, time_tensor(z, t));
    };
    trajectory = dopri5(f, z0.detach(), times, options.forward);
  }
  std::vector<Tensor> inputs{z0};
  inputs.insert(inputs.end(), params.begin(), params.end());
  if (!torch::autograd::compute_requires_grad(inputs)) return trajectory;
  std::vector<Tensor> detached_params;
  for (const auto& p : params) detached_params.push_back(p);
  auto node = std::shared_ptr<AdjointBackward>(
      new AdjointBackward(drift, detached_params, trajectory, times, options), torch::autograd::deleteNode);
  node->set_next_edges(torch::autograd::collect_next_edges(inputs));
  Tensor out = trajectory.detach();
  torch::autograd::create_gradient_edge(out, node);
  return out;
}

Tensor odeint_backprop(const DriftFn& drift, const Tensor& z0, const std::vector<double>& times,
                       const Dopri5Options& options, NfeCounter* nfe) {
  const int64_t n_states = states(z0);
  OdeFn f = [&](double t, const Tensor& z) {
    if (nfe) nfe->add(n_states);
    return drift(z, time_tensor(z, t));
  };
  return dopri5(f, z0, times, options);
}

}  // namespace amortize::sde
