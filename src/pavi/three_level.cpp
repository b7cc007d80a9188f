#include "amortize/pavi/three_level.hpp"

#include "amortize/dist/continuous/normal.hpp"
#include "amortize/model/primitives.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <stdexcept>

namespace amortize::pavi {

ThreeLevelData generate_three_level(const ThreeLevelDataOptions& o) {
  if (o.subjects < 1 || o.sessions < 1 || o.locations < 1 || o.dim < 1) {
    throw std::invalid_argument("generate_three_level: subjects, sessions, locations and dim must be positive");
  }
  auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  const auto& s = o.scales;
  ThreeLevelData d;
  d.true_mu = at::randn({o.dim}, gen, o.options) * s.population;
  d.true_subject = d.true_mu + at::randn({o.subjects, o.dim}, gen, o.options) * s.subject;
  d.true_session = d.true_subject.unsqueeze(1) + at::randn({o.subjects, o.sessions, o.dim}, gen, o.options) * s.session;
  d.x = d.true_session.unsqueeze(2) + at::randn({o.subjects, o.sessions, o.locations, o.dim}, gen, o.options) * s.obs;
  return d;
}

void ThreeLevelModel::operator()() const {
  using dist::Normal;
  if (!x.defined() || x.dim() != 4) throw std::invalid_argument("ThreeLevelModel: data x must have shape [S, T, L, D]");
  const int64_t n_subjects = x.size(0), n_sessions = x.size(1), dim = x.size(3);
  auto mu = model::sample("mu", *Normal(at::zeros({dim}, x.options()), scales.population).to_event(1));
  auto subjects = model::plate("subjects", n_subjects,
                               model::Plate::Options{subject_batch > 0 ? subject_batch : n_subjects, {}, -1, true});
  auto mu_s = model::sample("mu_subject", *Normal(mu, scales.subject).to_event(1), subjects);
  auto sessions = model::plate("sessions", n_sessions,
                               model::Plate::Options{session_batch > 0 ? session_batch : n_sessions, {}, -2, true});
  auto mu_st =
      model::sample("mu_session", *Normal(mu_s, scales.session).to_event(1), model::PlateList{&subjects, &sessions});
  // x [S, T, L, D] -> the batch's [T_b, S_b, L, D]
  Tensor xb = x.index_select(0, subjects.indices().to(x.device()))
                  .index_select(1, sessions.indices().to(x.device()))
                  .transpose(0, 1);
  auto shape = mu_st.sizes().vec();
  shape.insert(shape.end() - 1, x.size(2));
  model::sample("x", *Normal(mu_st.unsqueeze(-2).expand(shape), scales.obs).to_event(2),
                model::PlateList{&subjects, &sessions}, xb);
}

}  // namespace amortize::pavi
