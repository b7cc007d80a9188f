// The Laplace robust start of the joint-Gaussian guides (AutoContinuous::initialize_laplace).
#include "amortize/infer/guides/auto_continuous.hpp"
#include "amortize/model/handlers.hpp"
#include "amortize/model/param_store.hpp"

#include <torch/csrc/autograd/autograd.h>
#include <torch/optim/lbfgs.h>

namespace amortize::infer {

Tensor AutoContinuous::unconstrained_log_joint(const Tensor& z) {
  setup();
  model::ValueMap values;
  Tensor log_det = at::zeros({}, z.options());
  int64_t offset = 0;
  for (const auto& s : sites_) {
    Tensor zs = unpack(z, s, offset);
    Tensor x = s.transform->forward(zs);
    log_det = log_det + s.transform->log_abs_det_jacobian(zs, x).sum();
    values[s.name] = x;
    offset += s.numel();
  }
  model::BlockHandler private_run;
  model::TraceHandler tracer;
  model::SubstituteHandler substitute(values);
  model_();
  return tracer.trace().log_prob_sum() + log_det;
}

bool AutoContinuous::initialize_laplace(int64_t max_iterations) {
  setup();
  Tensor z = loc_covariance().first.detach().clone().set_requires_grad(true);
  torch::optim::LBFGS lbfgs({z}, torch::optim::LBFGSOptions(1.0).max_iter(max_iterations).line_search_fn("strong_wolfe"));
  auto closure = [&] {
    lbfgs.zero_grad();
    Tensor loss = -unconstrained_log_joint(z);
    loss.backward();
    return loss;
  };
  lbfgs.step(closure);
  Tensor mode = z.detach().clone().set_requires_grad(true);
  Tensor lj = unconstrained_log_joint(mode);
  Tensor grad = torch::autograd::grad({lj}, {mode}, {}, true, true)[0];
  const int64_t d = mode.size(0);
  Tensor hessian = at::zeros({d, d}, mode.options());
  for (int64_t i = 0; i < d; ++i) {
    hessian[i] = torch::autograd::grad({grad[i]}, {mode}, {}, true, false, true)[0].detach();
  }
  at::NoGradGuard no_grad;
  Tensor precision = -(hessian + hessian.transpose(0, 1)) / 2;
  if (!at::isfinite(precision).all().item<bool>() || !at::isfinite(mode).all().item<bool>()) return false;
  auto [chol, info] = at::linalg_cholesky_ex(precision);
  if (info.item<int64_t>() != 0) {
    set_loc_covariance(mode.detach(), Tensor());
    return false;
  }
  set_loc_covariance(mode.detach(), at::cholesky_inverse(chol));
  return true;
}

void AutoMultivariateNormal::set_loc_covariance(const Tensor& loc, const Tensor& covariance) {
  auto& store = model::active_param_store();
  store.assign(prefix_ + ".loc", loc);
  if (covariance.defined()) store.assign(prefix_ + ".scale_tril", at::linalg_cholesky(covariance));
}

void AutoLowRankMultivariateNormal::set_loc_covariance(const Tensor& loc, const Tensor& covariance) {
  auto& store = model::active_param_store();
  store.assign(prefix_ + ".loc", loc);
  if (!covariance.defined()) return;
  // Leading eigenvectors carry the correlations; the diagonal keeps what they leave over.
  auto [eigenvalues, eigenvectors] = at::linalg_eigh(covariance);
  const int64_t d = covariance.size(0);
  Tensor top_values = eigenvalues.narrow(0, d - rank_, rank_);
  Tensor top_vectors = eigenvectors.narrow(1, d - rank_, rank_);
  Tensor w = top_vectors * (top_values * 0.9).clamp_min(0).sqrt();
  Tensor residual = (covariance.diagonal() - w.square().sum(1)).clamp_min(1e-3 * covariance.diagonal());
  store.assign(prefix_ + ".cov_factor", w);
  store.assign(prefix_ + ".cov_diag", residual);
}

}  // namespace amortize::infer
