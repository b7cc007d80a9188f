#include "amortize/pavi/population_elbo.hpp"

#include "amortize/model/handlers.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <cmath>
#include <stdexcept>

namespace amortize::pavi {
namespace {

constexpr int64_t kMaxParticles = 100;
constexpr int64_t kDrawBudget = 2'000'000;  // particles x elements, at most, beyond the minimum

// Exposes the per-particle ELBO terms of one joint run.
class PerParticleElbo : public infer::TraceElbo {
 public:
  using TraceElbo::TraceElbo;
  Tensor per_particle(const infer::Program& model, const infer::Program& guide) {
    return particle_terms(run(model, guide), false).elbo;
  }
};

}  // namespace

PopulationElbo chunked_population_elbo(const infer::Program& model, const infer::Program& guide, int64_t size,
                                       const std::function<void(int64_t first, int64_t n)>& select,
                                       int64_t particles, int64_t chunk, uint64_t seed) {
  if (particles < 2 || chunk < 1) throw std::invalid_argument("population_elbo: need particles >= 2 and chunk >= 1");
  const auto start = std::chrono::steady_clock::now();
  // Two particles give the standard error one degree of freedom: a small population gets more.
  const int64_t minimum = particles;
  size = std::max<int64_t>(size, 1);
  // No run holds more draws than `chunk` elements at the minimum: the same memory.
  const int64_t run_draws = std::min(chunk, kDrawBudget) * minimum;
  particles = std::max(minimum, std::min({kMaxParticles, kDrawBudget / size, run_draws}));
  chunk = std::max<int64_t>(1, std::min(size, run_draws / particles));
  PerParticleElbo elbo(infer::ElboOptions{particles});
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  Tensor totals = at::zeros({particles}, at::TensorOptions().dtype(at::kDouble));
  PopulationElbo out;
  {
    at::NoGradGuard no_grad;
    model::BlockHandler block;  // private: outer traces must not see these runs
    model::SeedHandler seeder(gen);
    for (int64_t first = 0; first < size; first += chunk) {
      const int64_t n = std::min(chunk, size - first);
      select(first, n);
      // The plate scales this chunk's local terms by size / n: its share n / size undoes that.
      Tensor e = elbo.per_particle(model, guide).to(at::kDouble);
      totals += e * (static_cast<double>(n) / static_cast<double>(size));
      ++out.chunks;
    }
  }
  out.particles = particles;
  out.elbo = totals.mean().item<double>();
  out.standard_error = totals.std().item<double>() / std::sqrt(static_cast<double>(particles));
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

PopulationElbo population_elbo(const infer::Program& model, PaviGuide& guide, int64_t particles, int64_t chunk,
                               uint64_t seed) {
  const auto long_options = at::TensorOptions().dtype(at::kLong);
  const TemplatePlate* outer = nullptr;
  for (const auto& p : guide.plates()) {
    if (p.outer.empty() && (!outer || p.size > outer->size)) outer = &p;
  }
  // The guide's training state comes back however this ends (the shared loop checks the settings).
  struct Restore {
    PaviGuide& guide;
    ~Restore() {
      guide.clear_fixed_indices();
      guide.set_antithetic_draws(true);
    }
  } restore{guide};
  // Every other plate whole: an inner plate's indices are its own, within each outer element.
  for (const auto& p : guide.plates()) {
    if (&p != outer) guide.fix_indices(p.name, at::arange(p.size, long_options));
  }
  guide.set_antithetic_draws(false);
  auto select = [&](int64_t first, int64_t n) {
    if (outer) guide.fix_indices(outer->name, at::arange(first, first + n, long_options));
  };
  return chunked_population_elbo(model, guide.program(), outer ? outer->size : 1, select, particles, chunk, seed);
}

PopulationElbo population_elbo(const infer::Program& model, infer::AutoGuide& guide, int64_t particles,
                               int64_t chunk, uint64_t seed) {
  const auto long_options = at::TensorOptions().dtype(at::kLong);
  const auto& frames = guide.plate_frames();
  const model::PlateFrame* chunked = nullptr;
  for (const auto& f : frames) {
    if (!chunked || f.size > chunked->size) chunked = &f;
  }
  struct Restore {
    infer::AutoGuide& guide;
    ~Restore() { guide.clear_fixed_indices(); }
  } restore{guide};
  // Any one plate may be the chunked one: terms outside it get total weight 1 over the chunks.
  for (const auto& f : frames) {
    if (&f != chunked) guide.fix_indices(f.name, at::arange(f.size, long_options));
  }
  auto select = [&](int64_t first, int64_t n) {
    if (chunked) guide.fix_indices(chunked->name, at::arange(first, first + n, long_options));
  };
  return chunked_population_elbo(model, guide.program(), chunked ? chunked->size : 1, select, particles, chunk,
                                 seed);
}

}  // namespace amortize::pavi
