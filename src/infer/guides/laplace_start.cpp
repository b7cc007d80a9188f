// The Laplace robust start of the joint-Gaussian guides (AutoContinuous::initialize_laplace).
#include "amortize/infer/guides/auto_continuous.hpp"
#include "amortize/model/handlers.hpp"
#include "amortize/model/param_store.hpp"

#include <torch/csrc/autograd/autograd.h>
#include <torch/optim/lbfgs.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>

namespace amortize::infer {

Tensor AutoContinuous::unconstrained_log_joint(const Tensor& z) {
  setup();
  model::ValueMap values;
  Tensor log_det = at::zeros({}, z.options());
  const auto pieces = unpack_all(z);
  for (size_t i = 0; i < sites_.size(); ++i) {
    const auto& s = sites_[i];
    Tensor x = s.transform->forward(pieces[i]);
    log_det = log_det + s.transform->log_abs_det_jacobian(pieces[i], x).sum();
    values[s.name] = x;
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
  Tensor covariance = at::cholesky_inverse(chol);
  laplace_weight_share_ = importance_weight_share(mode.detach(), covariance);
  set_loc_covariance(mode.detach(), covariance);
  return true;
}

double AutoContinuous::importance_weight_share(const Tensor& mode, const Tensor& covariance) {
  constexpr int64_t kDraws = 100;
  at::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(0);  // a private stream: the run's draws stay as they were
  Tensor l = at::linalg_cholesky(covariance);
  Tensor eps = at::randn({kDraws, mode.size(0)}, gen, mode.options());
  Tensor z = mode + at::matmul(eps, l.transpose(0, 1));
  // log p - log q up to a constant (the same for every draw).
  std::vector<double> log_w(kDraws);
  for (int64_t s = 0; s < kDraws; ++s) {
    log_w[s] = unconstrained_log_joint(z[s]).item<double>() + 0.5 * eps[s].square().sum().item<double>();
  }
  const double top = *std::max_element(log_w.begin(), log_w.end());
  if (!std::isfinite(top)) return 0.0;
  double sum = 0.0, sum_sq = 0.0;
  for (double lw : log_w) {
    const double w = std::isfinite(lw) ? std::exp(lw - top) : 0.0;
    sum += w;
    sum_sq += w * w;
  }
  return sum * sum / sum_sq / static_cast<double>(kDraws);
}

void AutoMultivariateNormal::set_loc_covariance(const Tensor& loc, const Tensor& covariance) {
  auto& store = model::active_param_store();
  at::NoGradGuard no_grad;
  if (covariance.defined() && laplace_weight_share_ < kTrustedWeightShare) {
    // A poor approximation (eight schools' funnel: sds 16x too small) makes a poor frame.
    store.assign(prefix_ + ".frame_shift", at::zeros_like(loc));
    store.assign(prefix_ + ".frame_tril", at::eye(loc.size(0), loc.options()));
    store.assign(prefix_ + ".loc", loc);
    store.assign(prefix_ + ".scale_tril", at::linalg_cholesky(covariance));
    return;
  }
  store.assign(prefix_ + ".frame_shift", loc);
  store.assign(prefix_ + ".loc", at::zeros_like(loc));
  if (!covariance.defined()) return;
  store.assign(prefix_ + ".frame_tril", at::linalg_cholesky(covariance));
  store.assign(prefix_ + ".scale_tril", at::eye(loc.size(0), loc.options()));
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
