// A three-level hierarchy for PAVI (issue 6), shaped like a population study in neuroimaging:
// subjects x scanning sessions x locations. A population mean mu ~ N(0, s_0^2 I_D); per
// subject s, mu_s ~ N(mu, s_1^2 I_D); per session t of subject s, mu_{s,t} ~ N(mu_s, s_2^2 I_D);
// at each location l, x_{s,t,l} ~ N(mu_{s,t}, s_x^2 I_D). Sessions are a plate nested in the
// subjects plate: both may be subsampled (each term scaled by the product of size / batch).
#pragma once
#include "amortize/dist/tensor_args.hpp"

#include <cstdint>
#include <utility>

namespace amortize::pavi {

struct ThreeLevelScales {
  double population = 0.5, subject = 0.3, session = 0.2, obs = 0.1;
};

struct ThreeLevelDataOptions {
  int64_t subjects = 10;
  int64_t sessions = 3;
  int64_t locations = 5;
  int64_t dim = 2;
  uint64_t seed = 0;
  ThreeLevelScales scales;
  at::TensorOptions options = at::TensorOptions().dtype(at::kFloat);
};

// Drawn from the prior: x [S, T, L, D] with the true values.
struct ThreeLevelData {
  Tensor x, true_mu /* [D] */, true_subject /* [S, D] */, true_session /* [S, T, D] */;
};
ThreeLevelData generate_three_level(const ThreeLevelDataOptions& options);

// Sites "mu" (event [D]), "mu_subject" (plate "subjects" at dim -1, event [D]), "mu_session"
// (plates "subjects" and "sessions" at dim -2: batch [T_b, S_b], event [D]) and the observed
// "x" (event [L, D]).
struct ThreeLevelModel {
  ThreeLevelModel(Tensor data, int64_t subject_batch = 0, int64_t session_batch = 0, ThreeLevelScales s = {})
      : x(std::move(data)), subject_batch(subject_batch), session_batch(session_batch), scales(s) {}
  Tensor x;
  int64_t subject_batch = 0, session_batch = 0;  // 0: all
  ThreeLevelScales scales;
  void operator()() const;
};

}  // namespace amortize::pavi
