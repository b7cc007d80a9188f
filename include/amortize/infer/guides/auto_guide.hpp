// Automatic guides are built from one trace of the model: every latent sample site with its
// shape, plates and support. They work in unconstrained space (through biject_to) and hand each
// site to the model as a Delta at the constrained value carrying log q, so any objective can
// treat them like hand-written guides. Subclasses choose the variational family.
#pragma once
#include "amortize/dist/transforms/transform.hpp"
#include "amortize/infer/elbo.hpp"
#include "amortize/infer/guides/init_strategy.hpp"
#include "amortize/model/primitives.hpp"

#include <memory>
#include <string>
#include <vector>

namespace amortize::infer {

struct LatentSite {
  std::string name;
  dist::DistPtr prior;        // the model's distribution in the prototype trace
  dist::TransformPtr transform;  // unconstrained -> support
  Shape shape;                // constrained value shape
  Shape unconstrained_shape;
  std::vector<model::PlateFrame> plates;
  int64_t plate_depth = 0;    // leftmost batch dims owned by plates (the rest are event dims)
  Tensor init_unconstrained;
  int64_t numel() const;
  bool subsampled() const;
};

class AutoGuide {
 public:
  AutoGuide(Program model, std::string prefix, InitStrategy init, double init_scale);
  virtual ~AutoGuide() = default;

  // The guide program: samples every latent site of the model.
  void operator()();
  Program program();

  const std::vector<LatentSite>& latent_sites();
  // Total number of unconstrained latent dimensions (D).
  int64_t latent_dim();
  const std::string& prefix() const { return prefix_; }
  // The batch size the guide draws for a subsampled plate from now on (the model's plate
  // replays the guide's indices, so this is the one knob for a changing batch size).
  void set_subsample_size(const std::string& plate, int64_t size);
  // Runs from now on take exactly these elements of a plate (1-D long, each in 0..size-1), for
  // evaluating the guide over a whole plate in chunks; clear_fixed_indices() goes back to random
  // batches. Throws naming an unknown plate or a bad index tensor.
  void fix_indices(const std::string& plate, const Tensor& indices);
  void clear_fixed_indices() { fixed_indices_.clear(); }
  // Every plate that holds a latent site of this guide, in first-seen order, with the batch
  // size the guide draws.
  const std::vector<model::PlateFrame>& plate_frames();
  // Sticking-the-landing gradients (see sticking_the_landing.hpp); guides without a
  // reparameterised Gaussian family ignore it.
  void set_sticking_the_landing(bool on) { sticking_the_landing_ = on; }
  bool sticking_the_landing() const { return sticking_the_landing_; }

  // Point estimate (the guide's median) of each latent site, constrained, full size.
  virtual std::map<std::string, Tensor> median() = 0;

 protected:
  void setup();
  virtual void create_params() = 0;
  virtual void sample_latents() = 0;

  // Re-enters the site's plates with the indices drawn at the start of this guide run.
  std::vector<std::unique_ptr<model::Plate>> enter_plates(const LatentSite& site) const;
  // Selects the batch's rows of a full-size parameter along every subsampled plate dim.
  Tensor subsample(const Tensor& full, const LatentSite& site, int64_t event_dims) const;
  // Emits the site: value = transform(z), log q correction = -log|det J| (summed over events).
  void emit(const LatentSite& site, const Tensor& z_unconstrained, int64_t guide_event_dims) const;
  Tensor make_param(const std::string& name, const Tensor& init,
                    const dist::Constraint& c = dist::constraints::real()) const;

  Program model_;
  std::string prefix_;
  InitStrategy init_;
  double init_scale_;
  bool ready_ = false;
  bool sticking_the_landing_ = false;
  std::vector<LatentSite> sites_;
  std::map<std::string, Tensor> plate_indices_;  // this run's subsample, by plate name
  std::map<std::string, Tensor> fixed_indices_;  // fix_indices(), by plate name
  std::vector<model::PlateFrame> plate_frames_;  // the plates of its latent sites, in first-seen order
};

}  // namespace amortize::infer
