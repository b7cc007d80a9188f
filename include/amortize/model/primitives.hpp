// The model language: a model is any C++ callable that calls these. `sample` draws or
// observes a random variable, `param` reads a learnable parameter, `plate` declares
// conditionally independent copies along a tensor dimension (optionally subsampled, which
// scales every log-density inside it by size / batch), `deterministic` records a derived
// value and `factor` adds an arbitrary log-weight.
#pragma once
#include "amortize/dist/distribution.hpp"
#include "amortize/model/handler.hpp"

#include <optional>
#include <string>
#include <vector>

namespace amortize::model {

// A plate is an RAII scope: it applies to every site sampled while it is alive.
class Plate : public Handler {
 public:
  struct Options {
    std::optional<int64_t> subsample_size;
    Tensor indices;              // explicit subsample indices (overrides subsample_size)
    std::optional<int64_t> dim;  // negative; chosen automatically when absent
    // false: re-enter a plate whose indices were already drawn (and traced) in this run.
    bool record = true;
  };
  Plate(std::string name, int64_t size, Options options);
  ~Plate() override;

  const std::string& name() const { return frame_.name; }
  int64_t size() const { return frame_.size; }
  int64_t subsample_size() const { return frame_.subsample_size; }
  int64_t dim() const { return frame_.dim; }
  // Indices of the elements in this batch (arange(size) when not subsampled).
  const Tensor& indices() const { return frame_.indices; }
  const PlateFrame& frame() const { return frame_; }

  void process(Message& msg) override;

 private:
  PlateFrame frame_;
};

Plate plate(const std::string& name, int64_t size);
Plate plate(const std::string& name, int64_t size, int64_t subsample_size);
Plate plate(const std::string& name, int64_t size, const Tensor& indices);
Plate plate(const std::string& name, int64_t size, Plate::Options options);

using PlateList = std::vector<const Plate*>;

// Throws ModelError starting with `where` unless `indices` is a non-empty 1-D long tensor of
// elements in 0..size-1, and with `distinct` all different: a batch of a plate of `size`
// elements (guides' fixed indices must be distinct, to evaluate a whole plate in chunks).
void check_subsample_indices(const std::string& where, const Tensor& indices, int64_t size, bool distinct = true);

Tensor sample(const std::string& name, const dist::Distribution& d, const Tensor& obs = {});
Tensor sample(const std::string& name, const dist::Distribution& d, const Plate& in, const Tensor& obs = {});
Tensor sample(const std::string& name, const dist::Distribution& d, const PlateList& in, const Tensor& obs = {});
inline Tensor sample(const std::string& name, const dist::DistPtr& d, const Tensor& obs = {}) {
  return sample(name, *d, obs);
}
inline Tensor sample(const std::string& name, const dist::DistPtr& d, const Plate& in, const Tensor& obs = {}) {
  return sample(name, *d, in, obs);
}

Tensor param(const std::string& name, const Tensor& init,
             const dist::Constraint& constraint = dist::constraints::real());
Tensor deterministic(const std::string& name, const Tensor& value);
void factor(const std::string& name, const Tensor& log_weight);

}  // namespace amortize::model
