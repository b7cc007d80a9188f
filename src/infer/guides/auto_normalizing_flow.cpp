#include "amortize/infer/guides/auto_normalizing_flow.hpp"

#include "amortize/dist/continuous/delta.hpp"
#include "amortize/dist/continuous/normal.hpp"
#include "amortize/model/param_store.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

namespace amortize::infer {
namespace {

// log-scales are clipped as in Pyro's AffineAutoregressive, so one bad step cannot blow up.
constexpr double kMinLogScale = -5.0;
constexpr double kMaxLogScale = 3.0;

std::string layer_name(size_t layer, const char* what) { return "iaf" + std::to_string(layer) + "." + what; }

}  // namespace

AutoNormalizingFlow::AutoNormalizingFlow(Program model, FlowOptions flow, InitStrategy init, double init_scale,
                                         std::string prefix)
    : AutoContinuous(std::move(model), std::move(prefix), std::move(init), init_scale), flow_(flow) {
  if (flow_.num_layers < 0) throw std::invalid_argument(prefix_ + ": num_layers must be >= 0");
}

void AutoNormalizingFlow::create_params() {
  Tensor loc = initial_loc();
  const int64_t d = loc.size(0);
  const int64_t h = flow_.hidden_dim > 0 ? flow_.hidden_dim : std::max<int64_t>(2 * d, 8);
  make_param("loc", loc);
  make_param("scale_tril", init_scale_ * at::eye(d, loc.options()), dist::constraints::lower_cholesky());
  auto gen = at::make_generator<at::CPUGeneratorImpl>(0);
  // MADE degrees: input i has degree i + 1 (reversed in odd layers); hidden units cycle
  // through 1..D-1; an output may only see hidden units of strictly smaller degree.
  Tensor hidden_degree = at::arange(h, loc.options()).remainder(std::max<int64_t>(d - 1, 1)) + 1;
  masks_.clear();
  for (int64_t layer = 0; layer < flow_.num_layers; ++layer) {
    Tensor input_degree = at::arange(1, d + 1, loc.options());
    if (layer % 2 == 1) input_degree = input_degree.flip(0);
    Tensor output_degree = at::cat({input_degree, input_degree});
    masks_.push_back({hidden_degree.unsqueeze(1).ge(input_degree.unsqueeze(0)).to(loc.scalar_type()),
                      output_degree.unsqueeze(1).gt(hidden_degree.unsqueeze(0)).to(loc.scalar_type())});
    const auto l = static_cast<size_t>(layer);
    make_param(layer_name(l, "w1"), at::randn({h, d}, gen, loc.options()) / std::sqrt(double(d)));
    make_param(layer_name(l, "b1"), at::zeros({h}, loc.options()));
    // Zero output weights: the layer starts as the identity.
    make_param(layer_name(l, "w2"), at::zeros({2 * d, h}, loc.options()));
    make_param(layer_name(l, "b2"), at::zeros({2 * d}, loc.options()));
  }
}

std::pair<Tensor, Tensor> AutoNormalizingFlow::transform(const Tensor& eps) {
  setup();
  const int64_t d = eps.size(-1);
  Tensor x = eps;
  Tensor log_det;
  for (size_t l = 0; l < masks_.size(); ++l) {
    Tensor hidden = at::relu(at::linear(x, make_param(layer_name(l, "w1"), {}) * masks_[l].input_to_hidden,
                                        make_param(layer_name(l, "b1"), {})));
    Tensor out = at::linear(hidden, make_param(layer_name(l, "w2"), {}) * masks_[l].hidden_to_output,
                            make_param(layer_name(l, "b2"), {}));
    Tensor log_scale = out.narrow(-1, d, d).clamp(kMinLogScale, kMaxLogScale);
    x = at::addcmul(out.narrow(-1, 0, d), log_scale.exp(), x);
    Tensor layer_log_det = log_scale.sum(-1);
    log_det = log_det.defined() ? log_det + layer_log_det : layer_log_det;
  }
  Tensor scale_tril = make_param("scale_tril", {}, dist::constraints::lower_cholesky());
  Tensor z = at::linear(x, scale_tril, make_param("loc", {}));
  Tensor affine_log_det = scale_tril.diagonal().abs().log().sum();
  log_det = log_det.defined() ? log_det + affine_log_det : affine_log_det.expand(z.sizes().slice(0, z.dim() - 1));
  return {z, log_det};
}

Tensor AutoNormalizingFlow::sample_joint() {
  const Tensor& loc = make_param("loc", {});
  auto base = dist::Normal(at::zeros_like(loc), at::ones_like(loc)).to_event(1);
  Tensor eps = model::sample("_" + prefix_ + "_base", *base);
  auto [z, log_det] = transform(eps);
  return model::sample("_" + prefix_ + "_latent", dist::Delta(z, -log_det, 1));
}

dist::DistPtr AutoNormalizingFlow::latent_distribution(bool) {
  throw std::logic_error(prefix_ + ": a flow has no closed-form latent distribution");
}

std::map<std::string, Tensor> AutoNormalizingFlow::median() {
  setup();
  at::NoGradGuard no_grad;
  Tensor z = transform(at::zeros_like(make_param("loc", {}))).first;
  std::map<std::string, Tensor> out;
  int64_t offset = 0;
  for (const auto& s : sites_) {
    out[s.name] = s.transform->forward(unpack(z, s, offset));
    offset += s.numel();
  }
  return out;
}

std::pair<Tensor, Tensor> AutoNormalizingFlow::loc_covariance() {
  setup();
  at::NoGradGuard no_grad;
  const Tensor& loc = make_param("loc", {});
  auto gen = at::make_generator<at::CPUGeneratorImpl>(0);
  Tensor eps = at::randn({4096, loc.size(0)}, gen, loc.options());
  Tensor z = transform(eps).first;
  Tensor centred = z - z.mean(0);
  return {z.mean(0), at::matmul(centred.transpose(0, 1), centred) / (z.size(0) - 1)};
}

void AutoNormalizingFlow::set_loc_covariance(const Tensor& loc, const Tensor& covariance) {
  // The Laplace start resets the layers to the identity, so the flow equals the Gaussian.
  auto& store = model::active_param_store();
  store.assign(prefix_ + ".loc", loc);
  if (covariance.defined()) store.assign(prefix_ + ".scale_tril", at::linalg_cholesky(covariance));
  for (size_t l = 0; l < masks_.size(); ++l) {
    store.assign(prefix_ + "." + layer_name(l, "w2"), at::zeros_like(store.constrained(prefix_ + "." + layer_name(l, "w2"))));
    store.assign(prefix_ + "." + layer_name(l, "b2"), at::zeros_like(store.constrained(prefix_ + "." + layer_name(l, "b2"))));
  }
}

}  // namespace amortize::infer
