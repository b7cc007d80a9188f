// The ELBO of a trained PAVI guide over the whole population. Training reports the mean of its
// steps' estimates, which are of the iterates (not of the averaged guide it keeps) and carry the
// batches' subsampling noise. Here every element of the outermost plate is visited once, in
// chunks (nested plates whole), and each chunk's estimate is weighted by its share of the
// plate: the sum is the full-data ELBO of the final guide, random only through the guide's draws.
#pragma once
#include "amortize/infer/guides/auto_guide.hpp"
#include "amortize/pavi/pavi_guide.hpp"

#include <functional>

namespace amortize::pavi {

struct PopulationElbo {
  double elbo = 0;
  // Over the independent particles (each one a full-population estimate).
  double standard_error = 0;
  int64_t particles = 0;
  int64_t chunks = 0;
  double seconds = 0;
};

// At least `particles` independent draws per element (at least 2, for the standard error), and
// more, up to 100, while particles x (elements of the chunked plate) stays within 2e6 and one
// run holds no more draws than `chunk` elements at `particles` (so that a small population gets
// a usable standard error at the same memory); `chunk` elements of the outermost plate per run
// at `particles` draws, proportionally fewer at more. Leaves the guide's batch sequence where it was.
PopulationElbo population_elbo(const infer::Program& model, PaviGuide& guide, int64_t particles, int64_t chunk,
                               uint64_t seed);
// The same for an automatic guide (the mean-field baseline): the largest plate that holds a
// latent site in chunks, every other such plate whole (a subsampled plate holding only observed
// sites would still draw random batches: no model here has one); the guide draws random
// batches again afterwards.
PopulationElbo population_elbo(const infer::Program& model, infer::AutoGuide& guide, int64_t particles,
                               int64_t chunk, uint64_t seed);
// The estimator under both: `select(first, n)` makes the guide's next runs take elements
// [first, first + n) of the chunked plate (of `size` elements) and every other plate whole.
PopulationElbo chunked_population_elbo(const infer::Program& model, const infer::Program& guide, int64_t size,
                                       const std::function<void(int64_t first, int64_t n)>& select,
                                       int64_t particles, int64_t chunk, uint64_t seed);

}  // namespace amortize::pavi
