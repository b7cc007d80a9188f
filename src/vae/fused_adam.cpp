#include "amortize/vae/fused_adam.hpp"

#include "kernels.hpp"


#include <cmath>
#include <stdexcept>
#include <thread>
#include <algorithm>

namespace amortize::vae {

FusedAdam::FusedAdam(std::vector<Tensor> params, double learning_rate, FusedAdamOptions options)
    : params_(std::move(params)), learning_rate_(learning_rate), options_(options) {
  if (!(learning_rate > 0)) throw std::invalid_argument("FusedAdam: learning rate must be positive");
  if (!(options.beta1 >= 0 && options.beta1 < 1) || !(options.beta2 >= 0 && options.beta2 < 1)) {
    throw std::invalid_argument("FusedAdam: betas must lie in [0, 1)");
  }
  if (!(options.eps >= 0)) throw std::invalid_argument("FusedAdam: eps must be non-negative");
  for (const auto& p : params_) {
    m_.push_back(at::zeros_like(p, at::MemoryFormat::Contiguous));
    v_.push_back(at::zeros_like(p, at::MemoryFormat::Contiguous));
    steps_.push_back(0);
  }
}

void FusedAdam::step(int threads) {
  at::NoGradGuard no_grad;
  const double b1 = options_.beta1, b2 = options_.beta2;
  struct Work {
    float *p, *m, *v;
    const float* g;
    int64_t n;
    float step, eps_hat;
  };
  std::vector<Work> work;
  std::vector<Tensor> keep;  // contiguous copies of gradients that were not
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    const Tensor grad = p.grad();
    if (!grad.defined()) continue;
    const double t = static_cast<double>(++steps_[i]);
    const double bc1 = 1.0 - std::pow(b1, t);
    const double sqrt_bc2 = std::sqrt(1.0 - std::pow(b2, t));
    // torch.optim.Adam: p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps), rearranged.
    const double step = learning_rate_ * sqrt_bc2 / bc1;
    const double eps_hat = options_.eps * sqrt_bc2;
    const Tensor g = grad.contiguous();
    if (p.scalar_type() == at::kFloat && p.device().is_cpu() && p.is_contiguous() && g.scalar_type() == at::kFloat) {
      keep.push_back(g);
      work.push_back({p.data_ptr<float>(), m_[i].data_ptr<float>(), v_[i].data_ptr<float>(), g.data_ptr<float>(),
                      p.numel(), static_cast<float>(step), static_cast<float>(eps_hat)});
    } else {
      m_[i].lerp_(g, 1.0 - b1);
      v_[i].mul_(b2).addcmul_(g, g, 1.0 - b2);
      p.addcdiv_(m_[i], v_[i].sqrt().add_(eps_hat), -step);
    }
  }
  // Part `part` of `parts` of every parameter's elements (the same arithmetic for any split).
  auto run = [&](int64_t part, int64_t parts) {
    for (const auto& w : work) {
      const int64_t begin = w.n * part / parts, end = w.n * (part + 1) / parts;
      kernels::adam(w.p + begin, w.g + begin, w.m + begin, w.v + begin, end - begin, static_cast<float>(b1),
                    static_cast<float>(b2), w.step, w.eps_hat);
    }
  };
  const int64_t parts = std::max(1, threads);
  std::vector<std::thread> helpers;
  for (int64_t part = 1; part < parts; ++part) helpers.emplace_back(run, part, parts);
  run(0, parts);
  for (auto& h : helpers) h.join();
  for (auto& p : params_) {
    if (p.grad().defined()) p.mutable_grad() = Tensor();
  }
}

}  // namespace amortize::vae
