#include "amortize/sde/arcta.hpp"

#include "amortize/infer/optim/optimizer.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace amortize::sde {
namespace {
constexpr double kLog2Pi = 1.83787706640934548356;
using infer::optim::scalar_like;
}

ArctaModelImpl::ArctaModelImpl(const ArctaModelOptions& options, const at::TensorOptions& tensor_options)
    : options_(options) {
  const int64_t d = options.latent_dim, obs = options.observation_dim;
  if (d < 1 || obs < 1 || options.window < 1)
    throw std::invalid_argument("ArctaModel: latent_dim, observation_dim and window must be positive");
  if ((options.identity_decoder || options.encoder_skip) && obs != d)
    throw std::invalid_argument("ArctaModel: an identity decoder or encoder skip needs observation_dim (" + std::to_string(obs) +
                                ") == latent_dim (" + std::to_string(d) + ")");
  if (!(options.observation_variance > 0) || !(options.diffusion_prior_scale > 0) ||
      !(options.diffusion_init_scale > 0))
    throw std::invalid_argument("ArctaModel: observation_variance and the diffusion scales must be positive");
  if (options.conv_encoder) {
    if (options.encoder_skip) throw std::invalid_argument("ArctaModel: a CNN encoder has no skip connection");
    ConvEncoderOptions co;
    co.frames = options.window;
    co.height = options.frame_height > 0 ? options.frame_height : std::llround(std::sqrt(static_cast<double>(obs)));
    co.width = co.height > 0 ? obs / co.height : 0;
    if (co.height * co.width != obs)
      throw std::invalid_argument("ArctaModel: observations of " + std::to_string(obs) + " values are not frames of " +
                                  std::to_string(co.height) + " rows (set frame_height)");
    co.channels = options.encoder_channels;
    co.hidden = options.encoder_hidden;
    co.out = 2 * d;
    co.activation = options.encoder_activation;
    conv_encoder_ = register_module("encoder", ConvEncoder(co, tensor_options));
  } else {
    encoder_ = register_module(
        "encoder", Mlp(options.window * obs, options.encoder_hidden, 2 * d, options.encoder_activation, tensor_options));
  }
  kernel_ = register_module("kernel", DeepKernelInterpolant(options.kernel, tensor_options));
  drift_ = register_module("drift", Mlp(d + (options.autonomous_drift ? 0 : 1), options.drift_hidden, d,
                                        options.drift_activation, tensor_options));
  const bool learned = options.likelihood == Likelihood::kGaussianLearned;
  if (!options.identity_decoder) {
    decoder_ = register_module("decoder", Mlp(d, options.decoder_hidden, learned ? 2 * obs : obs,
                                              options.decoder_activation, tensor_options));
  } else if (learned) {
    obs_log_var_ = register_parameter("obs_log_var", at::full({obs}, std::log(options.observation_variance),
                                                              tensor_options.requires_grad(false)));
  }
  const double sp = options.diffusion_prior_scale;
  const auto half_obs = 0.5 * static_cast<double>(obs);
  gaussian_log_norm_ = ScalarConstant(-half_obs * (kLog2Pi + std::log(options.observation_variance)));
  half_log_2pi_ = ScalarConstant(-half_obs * kLog2Pi);
  diffusion_prior_loc_ = ScalarConstant(options.diffusion_prior_loc);
  diffusion_kl_const_ = ScalarConstant(static_cast<double>(d) * (std::log(sp) - 0.5));
  const auto opts = tensor_options.requires_grad(false);
  c_loc_ = register_parameter("diffusion_loc", at::full({d}, options.diffusion_init_loc, opts));
  c_log_scale_ = register_parameter("diffusion_log_scale", at::full({d}, std::log(options.diffusion_init_scale), opts));
}

Tensor ArctaModelImpl::drift(const Tensor& z, const Tensor& t) {
  if (drift_override_) return drift_override_(z, t);
  if (options_.autonomous_drift) return drift_->forward(z);
  return drift_->forward(at::cat({z, t.expand(z.sizes().slice(0, z.dim() - 1)).unsqueeze(-1).to(z.dtype())}, -1));
}

DriftFn ArctaModelImpl::drift_fn(NfeCounter* counter) {
  DriftFn f = [this](const Tensor& z, const Tensor& t) { return drift(z, t); };
  return counter ? counted(f, *counter) : f;
}

Tensor ArctaModelImpl::encode(const Tensor& windows) {
  Tensor out = !conv_encoder_.is_empty() ? conv_encoder_->forward(windows) : encoder_->forward(windows);
  if (options_.encoder_skip) {
    const int64_t d = options_.latent_dim;
    out = out + at::cat({windows.narrow(-1, 0, d), at::zeros_like(windows.narrow(-1, 0, d))}, -1);
  }
  return out;
}

Tensor ArctaModelImpl::decode_mean(const Tensor& z) {
  if (options_.identity_decoder) return options_.likelihood == Likelihood::kBernoulli ? at::sigmoid(z) : z;
  Tensor out = decoder_->forward(z);
  if (options_.likelihood == Likelihood::kGaussianLearned) out = out.narrow(-1, 0, options_.observation_dim);
  if (options_.likelihood == Likelihood::kBernoulli) out = at::sigmoid(out);
  return out;
}

Tensor ArctaModelImpl::log_likelihood(const Tensor& z, const Tensor& x) {
  const int64_t obs = options_.observation_dim;
  const Tensor xf = x.reshape({x.size(0), obs});
  const Tensor out = options_.identity_decoder ? z : decoder_->forward(z);
  switch (options_.likelihood) {
    case Likelihood::kGaussianFixed: {
      const double v = options_.observation_variance;
      const Tensor e = out - xf;
      return at::add(gaussian_log_norm_.like(out), (e * e).sum(-1), -0.5 / v);
    }
    case Likelihood::kGaussianLearned: {
      Tensor mean = out, log_var = obs_log_var_;
      if (!options_.identity_decoder) {
        mean = out.narrow(-1, 0, obs);
        log_var = out.narrow(-1, obs, obs);
      }
      const Tensor e = mean - xf;
      return at::add(half_log_2pi_.like(mean), (e * e * at::exp(-log_var) + log_var).sum(-1), -0.5);
    }
    case Likelihood::kBernoulli:
      return (xf * out - at::softplus(out)).sum(-1);
  }
  throw std::logic_error("ArctaModel::log_likelihood: unknown likelihood");
}

Tensor ArctaModelImpl::sample_diffusion(int64_t replicas, at::Generator gen) {
  const Tensor eps = at::randn({replicas, options_.latent_dim}, gen, c_loc_.options().requires_grad(false));
  return at::exp(at::addcmul(c_loc_, c_log_scale_.exp(), eps));
}

Tensor ArctaModelImpl::diffusion_kl() {
  // sum_k log sp - log sq_k + (sq_k^2 + (loc_k - mp)^2) / (2 sp^2) - 1/2
  const double sp = options_.diffusion_prior_scale;
  const Tensor sq = c_log_scale_.exp(), dev = c_loc_ - diffusion_prior_loc_.like(c_loc_);
  const Tensor q = sq * sq + dev * dev;
  return at::add(diffusion_kl_const_.like(q), at::add(c_log_scale_.neg(), q, 1.0 / (2 * sp * sp)).sum());
}

ElboTerms arcta_elbo(ArctaModel& model, const ChunkData& chunk, double t_begin, double t_end, double scale,
                     const ArctaSettings& settings, double beta, at::Generator gen, NfeCounter* nfe) {
  if (settings.samples < 1 || settings.strata < 1)
    throw std::invalid_argument("arcta_elbo: samples (R) and strata (S) must be positive");
  if (!(t_end > t_begin)) throw std::invalid_argument("arcta_elbo: the chunk's time span is empty");
  const int64_t b = chunk.t.size(0), d = model->options().latent_dim;
  const int64_t r = settings.samples, s = settings.strata;
  const Tensor hidden = model->encode(chunk.windows);  // [B, 2D]
  auto kernel = model->kernel();
  const InterpolantFit fit = kernel->fit(chunk.t.to(hidden.dtype()), hidden);
  const Tensor tq = StratifiedTimeSampler(s).sample(t_begin, t_end, r, gen, hidden.options().requires_grad(false));
  auto [value, dvalue] = kernel->evaluate(fit, tq.reshape({r * s}));

  // Expected log-likelihood at the chunk's observation times (the nodes).
  const Tensor m_obs = fit.node_values.narrow(1, 0, d);
  const Tensor l_obs = fit.node_values.narrow(1, d, d);
  const Tensor eps_obs = at::randn({r, b, d}, gen, hidden.options().requires_grad(false));
  // (sums times a tensor 1/R rather than means: a mean's backward divides by a double)
  const Tensor loglik =
      model->log_likelihood(reparameterize(m_obs, l_obs, eps_obs), chunk.x).sum().mul(scalar_like(1.0 / r, hidden));

  // Residual integral over [t_begin, t_end] by stratified Monte Carlo.
  const Tensor vq = value.reshape({r, s, 2 * d});
  const Tensor dq = dvalue.reshape({r, s, 2 * d});
  MarginalPath path{vq.narrow(-1, 0, d), vq.narrow(-1, d, d), dq.narrow(-1, 0, d), dq.narrow(-1, d, d)};
  const Tensor c = model->sample_diffusion(r, gen).unsqueeze(1);  // [R, 1, D]
  const Tensor eps_q = at::randn({r, s, d}, gen, hidden.options().requires_grad(false));
  const Tensor nr = normed_residual(path, eps_q, c, model->drift_fn(nfe), tq);  // [R, S]
  const Tensor integral = nr.sum().mul(scalar_like((t_end - t_begin) / static_cast<double>(r * s), nr));

  ElboTerms out;
  out.kl = model->diffusion_kl();
  out.log_likelihood = loglik;
  out.residual_integral = integral;
  out.scale = scale;
  out.nfe = r * s;
  out.elbo = at::sub(at::sub(loglik, integral, 0.5 * beta).mul(scalar_like(scale, loglik)), out.kl, beta);
  return out;
}

ElboTerms arcta_elbo(ArctaModel& model, const TimeSeriesDataset& data, const Chunk& chunk, int64_t num_chunks,
                     const ArctaSettings& settings, double beta, at::Generator gen, NfeCounter* nfe) {
  const ChunkData cd = data.chunk_data(chunk, true);
  return arcta_elbo(model, cd, chunk.t_begin, chunk.t_end, static_cast<double>(num_chunks), settings, beta, gen, nfe);
}

std::pair<Tensor, Tensor> posterior_marginals(ArctaModel& model, const ChunkData& chunk, const Tensor& t_query) {
  const int64_t d = model->options().latent_dim;
  const Tensor hidden = model->encode(chunk.windows);
  auto kernel = model->kernel();
  const InterpolantFit fit = kernel->fit(chunk.t.to(hidden.dtype()), hidden);
  const Tensor value = kernel->evaluate(fit, t_query.to(hidden.dtype())).first;
  return {value.narrow(1, 0, d), value.narrow(1, d, d)};
}

}  // namespace amortize::sde
