// The plate-amortized guide (PAVI, Rouillard et al., TMLR 2023). Built from one trace of the
// model (the template): every latent site, the plates it lives in and its parent sites (found
// by autograd: a site depends on the earlier latents its log-density has a gradient for).
// Each template site gets ONE conditional normalizing flow, shared by all elements of its
// plates, on a standard-normal base and mapped onto the site's support by biject_to. A local
// site's flow is conditioned on the element's encoding E_n and on the sampled (unconstrained)
// values of its parents; a global site's flow on its parents only (with none, its affine layers
// are plain affine maps with their own location and scale: a learned global encoding shared
// by both would carry the location's subsampling noise into the scale).
//   PAVI-F (Encoding::Free): E is a learned [elements, D_E] table, read with a sparse
//     embedding lookup, so a step's gradient (and a sparse optimiser's update) touches only the
//     batch's rows.
//   PAVI-E (Encoding::Set): E = set encoder (deep set or set transformer) of the element's
//     data, parameters independent of the plate size.
//   Baseline (Encoding::Unshared): no sharing at all; each element of a local site has its own
//     affine flow (element_affine.hpp), a row of a per-site table.
// Sites may live in nested plates (e.g. sessions within subjects): an element is then a tuple
// of indices, its encoding is indexed by the tuple (element_data [outer size, .., inner size,
// N, F]; tables [product of sizes, width]) and a parent may live in any subset of the child's
// plates (its draws broadcast over the others).
// Each run draws a batch of elements per subsampled plate (the model replays it), and each
// plate scales every log p and log q term inside it by size / batch: the ELBO estimate is
// unbiased. Batches sweep the plate in random epochs (EpochBatches) unless told otherwise.
// With an even number of vectorised particles the base draws come in antithetic pairs (u, -u),
// which cancels the batch's sampling noise from the gradient of every scale to first order:
// without it the scale of a global site whose posterior sd is far below that noise barely
// moves.
#pragma once
#include "amortize/dist/transforms/transform.hpp"
#include "amortize/infer/elbo.hpp"
#include "amortize/pavi/batching.hpp"
#include "amortize/pavi/conditional_flow.hpp"
#include "amortize/pavi/element_affine.hpp"
#include "amortize/pavi/set_encoder.hpp"

#include <ATen/core/Generator.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace amortize::pavi {

enum class Encoding { Free, Set, Unshared };

struct PaviOptions {
  Encoding encoding = Encoding::Free;
  int64_t encoding_dim = 8;
  ConditionalFlowOptions flow;
  // Local flows also see their parents' sampled values (else only the encoding).
  bool condition_on_parents = true;
  // Initial scale of the global sites' flows: global_init_scale / sqrt(largest plate size).
  // Small on purpose: from below, a scale's ELBO gradient is bounded by the entropy term's; from
  // above it grows as (scale / posterior sd)^2, and Adam's memory of those early large gradients
  // then stalls the scale for thousands of steps. A global site's posterior sd shrinks as
  // 1 / sqrt(plate size), hence the division.
  double global_init_scale = 0.1;
  // Free encodings start as N(0, s^2) draws.
  double encoding_init_scale = 0.1;
  // PAVI-E: each plate's per-element data, [plate size, N, F] (row g is element g's set); for a
  // plate nested in others, [outermost size, .., this plate's size, N, F].
  std::map<std::string, Tensor> element_data;
  SetEncoderOptions set_encoder;
  // Batch size per plate (absent: the batch size the model asks for).
  std::map<std::string, int64_t> batch_size;
  // Batches sweep each plate in a random order per epoch (else independent uniform subsets).
  bool reshuffle = true;
  // With an even number of particles, the second half's base draws are minus the first's.
  bool antithetic = true;
  // Seeds the initial parameters and the batch draws.
  uint64_t seed = 0;
  std::string prefix = "pavi";
};

struct TemplatePlate {
  std::string name;
  int64_t size = 0;
  int64_t batch = 0;
  int64_t dim = -1;
  // The plates enclosing this one at the sites whose innermost plate it is, outermost first:
  // an element of this plate is a tuple (outer indices.., own index).
  std::vector<std::string> outer;
};

struct TemplateSite {
  std::string name;
  dist::TransformPtr transform;  // unconstrained -> support
  Shape event_shape;             // constrained
  Shape unconstrained_event_shape;
  int64_t dim = 0;                   // flattened unconstrained event size
  std::optional<std::string> plate;  // the innermost plate (indexes the encoding)
  std::vector<std::string> plates;   // all of them, outermost (dim -1) first
  std::vector<std::string> parents;  // latent sites whose values the flow conditions on
  int64_t context_dim = 0;
};

class PaviGuide {
 public:
  PaviGuide(infer::Program model, PaviOptions options);

  // The guide program: draws the batches, then samples every latent site of the model.
  void operator()();
  infer::Program program();

  const std::vector<TemplateSite>& sites();
  const std::vector<TemplatePlate>& plates();
  // Batch size of a plate from the next run on.
  void set_batch_size(const std::string& plate, int64_t size);
  // Runs use exactly these elements of the plate (until cleared) instead of a random batch.
  void fix_indices(const std::string& plate, const Tensor& indices);
  void clear_fixed_indices() { fixed_indices_.clear(); }
  // Off: the particles' base draws are independent even with an even number of particles.
  void set_antithetic_draws(bool on) { antithetic_active_ = on; }
  // The generator the batches are drawn from (seeded by PaviOptions::seed).
  at::Generator& batch_generator() { return batch_generator_; }
  // Everything the batch draws depend on (generator state, each plate's epoch order and
  // position): saved with a checkpoint (TrainerOptions::save_extra_state) and restored by
  // load_batch_state, so that a resumed run draws the same batches as an uninterrupted one.
  std::map<std::string, Tensor> batch_state();
  void load_batch_state(const std::map<std::string, Tensor>& state);
  // Names (in the active parameter store) of the parameters shared by all elements: flows,
  // set encoders; not the free per-element encoding tables.
  std::vector<std::string> shared_parameter_names();
  // The subset of those that belong to the global sites' flows (sites in no plate).
  std::vector<std::string> global_parameter_names();

  // Steps in one sweep of the plates (the largest size / batch; 1 without reshuffling).
  int64_t steps_per_epoch();
  // Number of latent dimensions of the full model (all plate elements).
  int64_t latent_dim();
  // Number of learnable scalars of this guide in the active parameter store.
  int64_t n_parameters();

  // Monte-Carlo mean and sd (constrained scale) of every element of `site`: [size, event...]
  // for a local site ([inner size, .., outer size, event...] in nested plates, the layout of
  // the site's draws), [event...] for a global one, from `draws` guide draws per element, the
  // outermost plate visited `chunk` elements at a time so that memory stays bounded. float64
  // results. first_elements > 0: only the outermost plate's first elements. A local site on the
  // real line whose flow is affine is Gaussian given its parents' draws: its moments are then
  // Rao-Blackwellised (exact given each parent draw, which are then averaged), so a few draws
  // suffice (the sampled sds of few draws carry a large Monte-Carlo error: 24 % with 10).
  struct Moments {
    Tensor mean, sd;
  };
  Moments moments(const std::string& site, int64_t draws, int64_t chunk, uint64_t seed, int64_t first_elements = 0);

 private:
  void setup();
  void build_template();
  void create_modules();
  const TemplatePlate& plate(const std::string& name) const;
  // Row index of each element of the batch in a [product of sizes, width] table: shape of the
  // batch's layout [B_inner, .., B_outer].
  Tensor flat_indices(const TemplatePlate& plate, const std::map<std::string, Tensor>& indices) const;
  Tensor encode(const TemplatePlate& plate, const std::map<std::string, Tensor>& indices);
  Tensor element_rows(const TemplateSite& site, const std::map<std::string, Tensor>& indices);
  const TemplateSite& site(const std::string& name) const;

  infer::Program model_;
  PaviOptions options_;
  bool ready_ = false;
  at::TensorOptions value_options_;
  std::vector<TemplateSite> sites_;
  std::vector<TemplatePlate> plates_;
  std::map<std::string, ConditionalFlow> flows_;
  std::map<std::string, std::shared_ptr<SetEncoder>> encoders_;
  std::map<std::string, ElementAffineShape> element_shapes_;  // Encoding::Unshared, local sites
  // moments(): the site whose draws' conditional Gaussian (shift, factor) a run records.
  std::string capture_site_;
  Tensor captured_shift_, captured_factor_;
  std::map<std::string, Tensor> fixed_indices_;
  std::map<std::string, EpochBatches> epoch_batches_;
  int64_t plate_depth_ = 0;
  bool antithetic_active_ = true;
  at::Generator init_generator_;
  at::Generator batch_generator_;
};

}  // namespace amortize::pavi
