#include "amortize/dist/tensor_args.hpp"

#include <atomic>
#include <sstream>

namespace amortize::dist {
namespace {
std::atomic<bool> g_validate{true};

// First offending element as "value at index [i, j]" for error messages.
std::string first_offender(const Tensor& t, const Tensor& bad) {
  auto idx = at::nonzero(bad.reshape(t.sizes()).cpu());
  if (idx.size(0) == 0) return "";
  auto first = idx[0];
  std::vector<int64_t> pos;
  Tensor elem = t.cpu();
  for (int64_t d = 0; d < first.size(0); ++d) {
    pos.push_back(first[d].item<int64_t>());
    elem = elem[pos.back()];
  }
  std::ostringstream out;
  out << "got " << elem.item<double>();
  if (!pos.empty()) {
    out << " at index [";
    for (size_t i = 0; i < pos.size(); ++i) out << (i ? ", " : "") << pos[i];
    out << "]";
  }
  return out.str();
}

void check(const std::string& dist, const std::string& arg, const Tensor& t, const Tensor& bad,
           const char* what) {
  if (!bad.any().item<bool>()) return;
  throw DistributionError(dist + ": " + arg + " must be " + what + ", " + first_offender(t, bad));
}
}  // namespace

bool validation_enabled() { return g_validate.load(std::memory_order_relaxed); }
void set_validation(bool enabled) { g_validate.store(enabled, std::memory_order_relaxed); }

at::TensorOptions default_options() {
  return at::TensorOptions().dtype(at::typeMetaToScalarType(at::get_default_dtype()));
}

std::vector<Tensor> broadcast_args(const std::vector<TensorArg>& args) {
  at::TensorOptions options = default_options();
  bool found = false;
  at::ScalarType dtype = options.dtype().toScalarType();
  for (const auto& a : args) {
    if (!a.is_tensor()) continue;
    if (!found) {
      options = options.device(a.tensor().device());
      dtype = at::isFloatingType(a.tensor().scalar_type()) ? a.tensor().scalar_type() : dtype;
      found = true;
    } else if (at::isFloatingType(a.tensor().scalar_type())) {
      dtype = at::promote_types(dtype, a.tensor().scalar_type());
    }
  }
  options = options.dtype(dtype);
  std::vector<Tensor> tensors;
  tensors.reserve(args.size());
  bool same_shapes = true;
  for (const auto& a : args) {
    if (!a.is_tensor()) {
      tensors.push_back(at::scalar_tensor(a.value(), options));
    } else {
      const Tensor& t = a.tensor();
      // Skipping no-op conversions matters: each dispatch costs microseconds in a hot loop.
      const bool convert = t.scalar_type() != dtype || t.device() != options.device();
      tensors.push_back(convert ? t.to(options) : t);
    }
    same_shapes = same_shapes && tensors.back().sizes() == tensors.front().sizes();
  }
  if (tensors.size() == 1 || same_shapes) return tensors;
  try {
    return at::broadcast_tensors(tensors);
  } catch (const c10::Error&) {
    std::string shapes;
    for (const auto& t : tensors) shapes += (shapes.empty() ? "" : " and ") + shape_string(t.sizes());
    throw DistributionError("parameters of shapes " + shapes + " do not broadcast");
  }
}

void require_positive(const std::string& dist, const std::string& arg, const Tensor& t) {
  if (validation_enabled()) check(dist, arg, t, ~(t > 0), "positive");
}
void require_nonnegative(const std::string& dist, const std::string& arg, const Tensor& t) {
  if (validation_enabled()) check(dist, arg, t, ~(t >= 0), "non-negative");
}
void require_finite(const std::string& dist, const std::string& arg, const Tensor& t) {
  if (validation_enabled()) check(dist, arg, t, ~at::isfinite(t), "finite");
}
void require_in_unit_interval(const std::string& dist, const std::string& arg, const Tensor& t) {
  if (validation_enabled()) check(dist, arg, t, ~((t >= 0) & (t <= 1)), "in [0, 1]");
}
void require(bool condition, const std::string& message) {
  if (!condition) throw DistributionError(message);
}

std::string shape_string(at::IntArrayRef shape) {
  std::ostringstream out;
  out << "(";
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << ")";
  return out.str();
}

Shape to_shape(at::IntArrayRef shape) { return Shape(shape.begin(), shape.end()); }

}  // namespace amortize::dist
