#include "amortize/pavi/pavi_guide.hpp"

#include "amortize/dist/continuous/delta.hpp"
#include "amortize/dist/continuous/normal.hpp"
#include "amortize/dist/transforms/biject_to.hpp"
#include "amortize/dist/transforms/identity_transform.hpp"
#include "amortize/dist/transforms/independent_transform.hpp"
#include "amortize/model/handlers.hpp"
#include "amortize/model/module.hpp"
#include "amortize/model/param_store.hpp"
#include "amortize/model/primitives.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <tuple>

namespace amortize::pavi {
namespace {
int64_t product(const Shape& s) { return std::accumulate(s.begin(), s.end(), int64_t{1}, std::multiplies<>()); }

bool is_identity(const dist::TransformPtr& t) {
  if (dynamic_cast<const dist::IdentityTransform*>(t.get())) return true;
  const auto* independent = dynamic_cast<const dist::IndependentTransform*>(t.get());
  return independent && is_identity(independent->base());
}

model::ModelError error(const std::string& prefix, const std::string& what) {
  return model::ModelError("PaviGuide '" + prefix + "': " + what);
}
}  // namespace

PaviGuide::PaviGuide(infer::Program model, PaviOptions options)
    : model_(std::move(model)),
      options_(std::move(options)),
      init_generator_(at::make_generator<at::CPUGeneratorImpl>(options_.seed)),
      batch_generator_(at::make_generator<at::CPUGeneratorImpl>(options_.seed + 0x9e3779b97f4a7c15ULL)) {
  if (options_.encoding_dim < 1) throw error(options_.prefix, "encoding_dim must be positive");
}

void PaviGuide::setup() {
  if (ready_) return;
  build_template();
  ready_ = true;
  model::BlockHandler hide_creation;
  create_modules();
  for (const auto& p : plates_) {
    epoch_batches_.emplace(p.name, EpochBatches(p.size));
    plate_depth_ = std::max(plate_depth_, -p.dim);
  }
}

void PaviGuide::build_template() {
  // First run: the model as it asks (its own batch), hidden from everything outside.
  model::Trace first;
  {
    model::BlockHandler block;
    model::TraceHandler tracer;
    model::SeedHandler seed(0);
    model_();
    first = std::move(tracer.trace());
  }
  // Second run: replay with every latent value a fresh leaf, to find parents by autograd.
  model::Trace leaves = first;
  std::vector<std::string> latent_names;
  for (auto& s : leaves.sites()) {
    if (s.kind == model::SiteKind::Plate) {
      const auto& f = s.plates.front();
      plates_.push_back({f.name, f.size, f.subsample_size, f.dim, {}});
      continue;
    }
    if (!s.is_latent()) continue;
    if (s.dist->is_discrete())
      throw error(options_.prefix, "site '" + s.name + "' is discrete; PAVI needs continuous latents");
    s.value = s.value.detach().clone().requires_grad_(true);
    latent_names.push_back(s.name);
  }
  model::Trace second;
  {
    model::BlockHandler block;
    model::TraceHandler tracer;
    model::ReplayHandler replay(leaves);
    model::SeedHandler seed(0);
    model_();
    second = std::move(tracer.trace());
  }
  for (const auto& name : latent_names) {
    const auto& s = second.at(name);
    TemplateSite t;
    t.name = name;
    t.transform = dist::biject_to(s.dist->support());
    t.event_shape = s.dist->event_shape();
    Tensor u = t.transform->inverse(s.value.detach());
    const int64_t event_dim = t.transform->domain_event_dim();
    auto us = u.sizes();
    t.unconstrained_event_shape = Shape(us.end() - event_dim, us.end());
    t.dim = product(t.unconstrained_event_shape);
    const int64_t batch_dims = s.value.dim() - s.dist->event_dim();
    if (!s.plates.empty()) {
      auto frames = s.plates;
      std::sort(frames.begin(), frames.end(), [](const auto& a, const auto& b) { return a.dim > b.dim; });
      for (size_t k = 0; k < frames.size(); ++k) {
        if (frames[k].dim != -static_cast<int64_t>(k) - 1) {
          throw error(options_.prefix, "site '" + name + "': its plates must take dims -1, -2, .. (plate '" +
                                           frames[k].name + "' has dim " + std::to_string(frames[k].dim) + ")");
        }
        t.plates.push_back(frames[k].name);
      }
      t.plate = t.plates.back();
      if (batch_dims != static_cast<int64_t>(frames.size())) {
        throw error(options_.prefix, "site '" + name + "' must have exactly the batch dims of its plates");
      }
    } else if (batch_dims != 0) {
      throw error(options_.prefix, "global site '" + name + "' has batch dims outside any plate; use to_event");
    }
    if (!value_options_.has_dtype()) value_options_ = s.value.options().requires_grad(false);
    sites_.push_back(std::move(t));
  }
  if (sites_.empty()) throw error(options_.prefix, "the model has no latent site");
  value_options_ = at::TensorOptions().dtype(value_options_.dtype()).device(value_options_.device());
  // Parents: earlier latents with a gradient path into this site's log-density.
  for (size_t i = 1; i < sites_.size(); ++i) {
    const auto& s = second.at(sites_[i].name);
    std::vector<Tensor> inputs;
    for (size_t j = 0; j < i; ++j) inputs.push_back(leaves.at(sites_[j].name).value);
    auto grads = torch::autograd::grad({s.log_prob().sum()}, inputs, {}, /*retain_graph=*/true, false,
                                       /*allow_unused=*/true);
    for (size_t j = 0; j < i; ++j) {
      if (!grads[j].defined()) continue;
      const auto& parent = sites_[j];
      for (const auto& pp : parent.plates) {
        if (std::find(sites_[i].plates.begin(), sites_[i].plates.end(), pp) == sites_[i].plates.end()) {
          throw error(options_.prefix, "site '" + sites_[i].name + "' depends on '" + parent.name + "' of plate '" +
                                           pp + "', which it is not in; not supported");
        }
      }
      sites_[i].parents.push_back(parent.name);
    }
  }
  // Only the plates holding latent sites; their batch sizes from the options.
  plates_.erase(std::remove_if(plates_.begin(), plates_.end(),
                               [&](const TemplatePlate& p) {
                                 return std::none_of(sites_.begin(), sites_.end(), [&](const TemplateSite& s) {
                                   return std::find(s.plates.begin(), s.plates.end(), p.name) != s.plates.end();
                                 });
                               }),
                plates_.end());
  // Each plate's enclosing plates, the same at every site whose innermost plate it is.
  for (auto& p : plates_) {
    bool seen = false;
    for (const auto& t : sites_) {
      if (t.plate != p.name) continue;
      std::vector<std::string> outer(t.plates.begin(), t.plates.end() - 1);
      if (seen && outer != p.outer) {
        throw error(options_.prefix, "plate '" + p.name + "' is nested in different plates at different sites");
      }
      p.outer = outer;
      seen = true;
    }
  }
  for (auto& p : plates_) {
    auto it = options_.batch_size.find(p.name);
    if (it != options_.batch_size.end()) p.batch = it->second;
    if (p.batch < 1 || p.batch > p.size) {
      throw error(options_.prefix, "batch size " + std::to_string(p.batch) + " of plate '" + p.name +
                                       "' is outside 1.." + std::to_string(p.size));
    }
  }
}

void PaviGuide::create_modules() {
  const int64_t de = options_.encoding_dim;
  int64_t largest_plate = 1;
  for (const auto& p : plates_) largest_plate = std::max(largest_plate, p.size);
  for (auto& t : sites_) {
    if (t.plate && options_.encoding == Encoding::Unshared) {
      // The baseline: no shared flow; each element's affine flow is a row of a table.
      ElementAffineShape shape;
      shape.dim = t.dim;
      if (options_.condition_on_parents) {
        for (const auto& p : t.parents) shape.parent_dim += site(p).dim;
      } else {
        t.parents.clear();
      }
      shape.lower_triangular = options_.flow.lower_triangular;
      shape.init_scale = options_.flow.init_scale;
      t.context_dim = shape.parent_dim;
      element_shapes_.emplace(t.name, shape);
      continue;
    }
    // A global site's context is a constant 1 and its parents: a learned global encoding fed
    // through weights shared by location and scale would pass the location's subsampling noise
    // (large at large plates) into the scale through Adam's shared steps.
    t.context_dim = t.plate ? de : 1;
    if (options_.condition_on_parents || !t.plate) {
      for (const auto& p : t.parents) t.context_dim += site(p).dim;
    } else {
      t.parents.clear();
    }
    ConditionalFlowOptions flow_options = options_.flow;
    // Without parents the context is constant: the affine layers are plain affine maps.
    if (!t.plate && t.parents.empty()) flow_options.linear_affine = true;
    if (!t.plate) flow_options.init_scale = options_.global_init_scale / std::sqrt(static_cast<double>(largest_plate));
    ConditionalFlow flow(t.dim, t.context_dim, flow_options, init_generator_);
    // The parents' coefficients start at zero: a parent varies only over its guide's spread
    // (for a global site of a large plate, far below the data's scale), so these weights get
    // little gradient signal, and a random start would persist and bias the parent's scale.
    flow->zero_context_weights(t.plate ? de : 1);
    flow->to(value_options_.device(), value_options_.dtype().toScalarType());
    flows_.emplace(t.name, flow);
  }
  if (options_.encoding == Encoding::Set) {
    for (const auto& p : plates_) {
      // Only plates some site is innermost in have their own encodings.
      if (std::none_of(sites_.begin(), sites_.end(), [&](const TemplateSite& t) { return t.plate == p.name; }))
        continue;
      auto it = options_.element_data.find(p.name);
      if (it == options_.element_data.end()) {
        throw error(options_.prefix, "set encoding needs element_data for plate '" + p.name + "'");
      }
      const Tensor& data = it->second;
      std::vector<int64_t> sizes;
      std::string expected = "[";
      for (const auto& o : p.outer) {
        sizes.push_back(plate(o).size);
        expected += std::to_string(sizes.back()) + ", ";
      }
      sizes.push_back(p.size);
      expected += std::to_string(p.size) + ", N, F]";
      const auto k = static_cast<int64_t>(sizes.size());
      if (data.dim() != k + 2 || data.sizes().slice(0, k) != at::IntArrayRef(sizes)) {
        throw error(options_.prefix, "element_data of plate '" + p.name + "' must be " + expected + ", got " +
                                         dist::shape_string(data.sizes()));
      }
      auto enc = make_set_encoder(data.size(-1), de, options_.set_encoder, init_generator_);
      enc->to(data.device(), data.scalar_type());
      encoders_.emplace(p.name, enc);
    }
  }
}

const TemplateSite& PaviGuide::site(const std::string& name) const {
  for (const auto& s : sites_) {
    if (s.name == name) return s;
  }
  throw error(options_.prefix, "no latent site named '" + name + "'");
}

const TemplatePlate& PaviGuide::plate(const std::string& name) const {
  for (const auto& p : plates_) {
    if (p.name == name) return p;
  }
  throw error(options_.prefix, "no plate named '" + name + "' holds a latent site");
}

const std::vector<TemplateSite>& PaviGuide::sites() {
  setup();
  return sites_;
}

const std::vector<TemplatePlate>& PaviGuide::plates() {
  setup();
  return plates_;
}

void PaviGuide::set_batch_size(const std::string& plate, int64_t size) {
  setup();
  for (auto& p : plates_) {
    if (p.name != plate) continue;
    if (size < 1 || size > p.size) {
      throw error(options_.prefix, "batch size " + std::to_string(size) + " of plate '" + plate + "' is outside 1.." +
                                       std::to_string(p.size));
    }
    p.batch = size;
    return;
  }
  throw error(options_.prefix, "no plate named '" + plate + "' holds a latent site");
}

void PaviGuide::fix_indices(const std::string& plate, const Tensor& indices) {
  setup();
  for (const auto& p : plates_) {
    if (p.name == plate) {
      model::check_subsample_indices(options_.prefix + ": fixed indices of plate '" + plate + "'", indices, p.size);
      fixed_indices_[plate] = indices;
      return;
    }
  }
  throw error(options_.prefix, "no plate named '" + plate + "' holds a latent site");
}

int64_t PaviGuide::steps_per_epoch() {
  setup();
  int64_t steps = 1;
  if (!options_.reshuffle) return steps;
  for (const auto& p : plates_) steps = std::max(steps, p.size / p.batch);
  return steps;
}

int64_t PaviGuide::latent_dim() {
  setup();
  int64_t total = 0;
  for (const auto& s : sites_) {
    int64_t n = s.dim;
    for (const auto& p : s.plates) n *= plate(p).size;
    total += n;
  }
  return total;
}

int64_t PaviGuide::n_parameters() {
  setup();
  auto& store = model::active_param_store();
  int64_t n = 0;
  const std::string head = options_.prefix + ".";
  for (const auto& name : store.names()) {
    if (name.compare(0, head.size(), head) == 0) n += store.entry(name).unconstrained.numel();
  }
  return n;
}

Tensor PaviGuide::flat_indices(const TemplatePlate& p, const std::map<std::string, Tensor>& indices) const {
  // Outermost plate first; plate k of K sits at layout dim K-1-k.
  std::vector<std::string> names = p.outer;
  names.push_back(p.name);
  const auto k = static_cast<int64_t>(names.size());
  Tensor flat;
  for (int64_t i = 0; i < k; ++i) {
    std::vector<int64_t> shape(static_cast<size_t>(k), 1);
    const Tensor& idx = indices.at(names[static_cast<size_t>(i)]);
    shape[static_cast<size_t>(k - 1 - i)] = idx.numel();
    Tensor term = idx.reshape(shape);
    flat = flat.defined() ? flat * plate(names[static_cast<size_t>(i)]).size + term : term;
  }
  return flat;
}

Tensor PaviGuide::encode(const TemplatePlate& p, const std::map<std::string, Tensor>& indices) {
  if (options_.encoding == Encoding::Set) {
    auto& enc = encoders_.at(p.name);
    model::register_module_parameters(options_.prefix + ".encoder." + p.name, *enc);
    Tensor data = options_.element_data.at(p.name);
    std::vector<std::string> names = p.outer;
    names.push_back(p.name);
    const auto k = static_cast<int64_t>(names.size());
    for (int64_t i = 0; i < k; ++i)
      data = data.index_select(i, indices.at(names[static_cast<size_t>(i)]).to(data.device()));
    // Stored outermost first; the batch layout has the outermost plate at dim -1.
    std::vector<int64_t> order;
    for (int64_t i = k - 1; i >= 0; --i) order.push_back(i);
    for (int64_t i = k; i < data.dim(); ++i) order.push_back(i);
    return enc->forward(data.permute(order));
  }
  const std::string name = options_.prefix + ".encoding." + p.name;
  Tensor init;
  if (!model::active_param_store().contains(name)) {
    int64_t rows = p.size;
    for (const auto& o : p.outer) rows *= plate(o).size;
    init = (at::randn({rows, options_.encoding_dim}, init_generator_, at::TensorOptions().dtype(at::kFloat)) *
            options_.encoding_init_scale)
               .to(value_options_);
  }
  Tensor table = model::param(name, init);
  // Sparse gradient: only the batch's rows receive one.
  return at::embedding(table, flat_indices(p, indices).to(table.device()), -1, false, /*sparse=*/true);
}

Tensor PaviGuide::element_rows(const TemplateSite& t, const std::map<std::string, Tensor>& indices) {
  const TemplatePlate& p = plate(*t.plate);
  const std::string name = options_.prefix + ".element." + t.name;
  Tensor init;
  if (!model::active_param_store().contains(name)) {
    int64_t rows = p.size;
    for (const auto& o : p.outer) rows *= plate(o).size;
    init = at::zeros({rows, element_shapes_.at(t.name).width()}, value_options_);
  }
  Tensor table = model::param(name, init);
  return at::embedding(table, flat_indices(p, indices).to(table.device()), -1, false, /*sparse=*/true);
}

void PaviGuide::operator()() {
  setup();
  // Draw (or take) each plate's batch and enter it once, recorded so the model replays it.
  std::map<std::string, Tensor> indices;
  std::map<std::string, Tensor> encodings;
  for (const auto& p : plates_) {
    auto fixed = fixed_indices_.find(p.name);
    Tensor idx;
    if (fixed != fixed_indices_.end()) {
      idx = fixed->second;
    } else if (options_.reshuffle) {
      idx = epoch_batches_.at(p.name).next(p.batch, batch_generator_);
    } else {
      idx = sample_without_replacement(p.size, p.batch, batch_generator_);
    }
    model::Plate entered(p.name, p.size, {std::nullopt, idx, p.dim, true});
    indices[p.name] = idx;
  }
  // Each site's base draw: what its children's flows read of it. Given the parameters, the base
  // draw and the value determine each other (the flow is a bijection), so this conditions on
  // the parent's value, standardised: zero-mean and unit-scale whatever the parent's location
  // and spread, its coefficients are not confounded with the children's biases.
  std::map<std::string, Tensor> base_draws;
  for (const auto& t : sites_) {
    std::vector<std::unique_ptr<model::Plate>> entered;
    for (const auto& name : t.plates) {
      const TemplatePlate& tp = plate(name);
      entered.push_back(std::make_unique<model::Plate>(
          tp.name, tp.size, model::Plate::Options{std::nullopt, indices.at(tp.name), tp.dim, false}));
    }
    const bool unshared = t.plate && options_.encoding == Encoding::Unshared;
    std::vector<Tensor> context;
    if (unshared) {
      // no encoding: the element's own parameters (below)
    } else if (t.plate) {
      auto enc = encodings.find(*t.plate);
      if (enc == encodings.end()) enc = encodings.emplace(*t.plate, encode(plate(*t.plate), indices)).first;
      context.push_back(enc->second);
    } else {
      context.push_back(at::ones({1}, value_options_));
    }
    for (const auto& p : t.parents) context.push_back(base_draws.at(p));
    const dist::Normal base(at::zeros({t.dim}, value_options_), at::ones({t.dim}, value_options_));
    Tensor u = model::sample("_" + options_.prefix + "." + t.name + ".base", *base.to_event(1));
    // A dim left of the plates' is the particles' (or the draws'): pair its halves. Global
    // sites get (u, -u); local sites the same draw in both halves (common random numbers), so
    // that within a pair only the global value moves and the batch's noise in the global
    // site's scale gradient cancels to first order, the local draws' noise included.
    if (options_.antithetic && antithetic_active_ && u.dim() - 1 > plate_depth_ && u.size(0) >= 2 &&
        u.size(0) % 2 == 0) {
      Tensor half = u.narrow(0, 0, u.size(0) / 2);
      u = at::cat({half, t.plate ? half : -half}, 0);
    }
    auto batch = u.sizes().slice(0, u.dim() - 1);
    Tensor z, log_det;
    if (unshared) {
      Tensor parents = context.empty() ? Tensor() : broadcast_cat(context, batch);
      std::tie(z, log_det) = element_affine(u, element_rows(t, indices), parents, element_shapes_.at(t.name));
    } else {
      auto& flow = flows_.at(t.name);
      model::module(options_.prefix + ".flow." + t.name, flow);
      Tensor ctx = broadcast_cat(context, batch);
      std::optional<std::pair<Tensor, Tensor>> gaussian;
      if (t.name == capture_site_) gaussian = flow->gaussian(ctx);
      if (gaussian) {
        captured_shift_ = gaussian->first;
        captured_factor_ = gaussian->second;
        z = captured_shift_ + at::matmul(captured_factor_, u.unsqueeze(-1)).squeeze(-1);
        log_det = at::diagonal(captured_factor_, 0, -2, -1).log().sum(-1);
      } else {
        std::tie(z, log_det) = flow->forward(u, ctx);
      }
    }
    base_draws[t.name] = u;
    Shape shaped(batch.begin(), batch.end());
    shaped.insert(shaped.end(), t.unconstrained_event_shape.begin(), t.unconstrained_event_shape.end());
    Tensor zu = z.reshape(shaped);
    Tensor value = t.transform->forward(zu);
    Tensor log_q_correction = -(log_det + t.transform->log_abs_det_jacobian(zu, value));
    model::sample(t.name, dist::Delta(value, log_q_correction, static_cast<int64_t>(t.event_shape.size())));
  }
}

infer::Program PaviGuide::program() {
  return [this] { (*this)(); };
}

PaviGuide::Moments PaviGuide::moments(const std::string& name, int64_t draws, int64_t chunk, uint64_t seed,
                                      int64_t first_elements) {
  setup();
  const TemplateSite& t = site(name);
  if (draws < 2 || chunk < 1) throw error(options_.prefix, "moments: need draws >= 2 and chunk >= 1");
  int64_t depth = 0;
  for (const auto& p : plates_) depth = std::max(depth, -p.dim);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto run = [&]() {
    at::NoGradGuard no_grad;
    model::BlockHandler block;  // private: outer traces must not see these runs
    model::TraceHandler tracer;
    model::SeedHandler seeder(gen);
    model::Plate draws_plate("_pavi_draws", draws, model::Plate::Options{std::nullopt, {}, -(depth + 1), true});
    (*this)();
    return tracer.trace().at(name).value.to(at::kDouble);
  };
  auto saved = fixed_indices_;
  // Every plate on fixed elements: the training's batch sequence must not move.
  for (const auto& p : plates_) {
    if (!fixed_indices_.count(p.name)) fixed_indices_[p.name] = at::arange(1, at::TensorOptions().dtype(at::kLong));
  }
  // Independent draws: the moments' Monte-Carlo error is then the textbook one.
  antithetic_active_ = false;
  // Rao-Blackwellised moments for a local site on the real line (identity transform).
  const bool real_line = is_identity(t.transform);
  if (t.plate && real_line && options_.encoding != Encoding::Unshared) capture_site_ = name;
  Moments out;
  auto event = t.event_shape;
  try {
    if (!t.plate) {
      Tensor v = run();  // [S, 1.., event]
      v = v.reshape({draws, product(event)});
      out.mean = v.mean(0).reshape(event);
      out.sd = v.std(0).reshape(event);
    } else {
      // Chunks of the outermost plate (layout dim k-1); the inner plates whole.
      const auto k = static_cast<int64_t>(t.plates.size());
      const auto long_options = at::TensorOptions().dtype(at::kLong);
      Shape full;
      for (int64_t i = k - 1; i >= 1; --i) {
        const TemplatePlate& inner = plate(t.plates[static_cast<size_t>(i)]);
        full.push_back(inner.size);
        fixed_indices_[inner.name] = at::arange(inner.size, long_options);
      }
      const std::string& outer = t.plates.front();
      int64_t size = plate(outer).size;
      if (first_elements > 0) size = std::min(size, first_elements);
      full.push_back(size);
      full.insert(full.end(), event.begin(), event.end());
      out.mean = at::empty(full, at::TensorOptions().dtype(at::kDouble));
      out.sd = at::empty(full, at::TensorOptions().dtype(at::kDouble));
      for (int64_t start = 0; start < size; start += chunk) {
        const int64_t n = std::min(chunk, size - start);
        fixed_indices_[outer] = at::arange(start, start + n, long_options);
        captured_shift_ = Tensor();
        Tensor v = run().reshape({draws, -1});  // [S, inner.., n, event] flattened
        Shape rows = full;
        rows[static_cast<size_t>(k - 1)] = n;
        if (captured_shift_.defined()) {
          // Given the parents: mean shift, variance diag(L L^T); then over the parents' draws.
          Tensor shift = captured_shift_.to(at::kDouble).reshape({draws, -1});
          Tensor var = captured_factor_.to(at::kDouble).square().sum(-1).reshape({draws, -1});
          out.mean.narrow(k - 1, start, n).copy_(shift.mean(0).reshape(rows));
          out.sd.narrow(k - 1, start, n).copy_((var.mean(0) + shift.var(0)).sqrt().reshape(rows));
        } else {
          out.mean.narrow(k - 1, start, n).copy_(v.mean(0).reshape(rows));
          out.sd.narrow(k - 1, start, n).copy_(v.std(0).reshape(rows));
        }
      }
    }
  } catch (...) {
    fixed_indices_ = saved;
    antithetic_active_ = true;
    capture_site_.clear();
    throw;
  }
  fixed_indices_ = saved;
  antithetic_active_ = true;
  capture_site_.clear();
  captured_shift_ = captured_factor_ = Tensor();
  return out;
}

std::map<std::string, Tensor> PaviGuide::batch_state() {
  setup();
  std::map<std::string, Tensor> state{{"generator", batch_generator_.get_state()}};
  for (const auto& [plate, batches] : epoch_batches_) {
    for (const auto& [key, value] : batches.state()) state[plate + "." + key] = value;
  }
  return state;
}

void PaviGuide::load_batch_state(const std::map<std::string, Tensor>& state) {
  setup();
  auto gen = state.find("generator");
  if (gen == state.end()) throw error(options_.prefix, "batch state has no generator");
  for (auto& [plate, batches] : epoch_batches_) {
    std::map<std::string, Tensor> own;
    const std::string head = plate + ".";
    for (const auto& [key, value] : state) {
      if (key.compare(0, head.size(), head) == 0) own[key.substr(head.size())] = value;
    }
    if (own.empty()) throw error(options_.prefix, "batch state has nothing for plate '" + plate + "'");
    batches.load_state(own);
  }
  batch_generator_.set_state(gen->second);
}

std::vector<std::string> PaviGuide::shared_parameter_names() {
  setup();
  std::vector<std::string> out;
  const std::string head = options_.prefix + ".", table = options_.prefix + ".encoding.",
                    rows = options_.prefix + ".element.";
  for (const auto& name : model::active_param_store().names()) {
    if (name.compare(0, head.size(), head) == 0 && name.compare(0, table.size(), table) != 0 &&
        name.compare(0, rows.size(), rows) != 0)
      out.push_back(name);
  }
  return out;
}

std::vector<std::string> PaviGuide::global_parameter_names() {
  setup();
  std::vector<std::string> out;
  for (const auto& name : shared_parameter_names()) {
    for (const auto& t : sites_) {
      const std::string head = options_.prefix + ".flow." + t.name + "$";
      if (!t.plate && name.compare(0, head.size(), head) == 0) out.push_back(name);
    }
  }
  return out;
}

}  // namespace amortize::pavi
