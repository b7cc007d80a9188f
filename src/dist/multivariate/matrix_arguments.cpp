#include "amortize/dist/multivariate/matrix_arguments.hpp"

#include <ATen/ExpandUtils.h>

#include <algorithm>
#include <sstream>

namespace amortize::dist {
namespace {
std::string index_string(const Tensor& index_row) {
  std::ostringstream out;
  out << "[";
  for (int64_t d = 0; d < index_row.size(0); ++d) out << (d ? ", " : "") << index_row[d].item<int64_t>();
  out << "]";
  return out.str();
}

at::IntArrayRef batch_part(const Tensor& t, int64_t event_dims) { return t.sizes().slice(0, t.dim() - event_dims); }
}  // namespace

at::TensorOptions floating_options(const std::vector<TensorArg>& args) {
  at::TensorOptions options = default_options();
  at::ScalarType dtype = options.dtype().toScalarType();
  bool found_device = false;
  bool found_floating = false;
  for (const auto& a : args) {
    if (!a.is_tensor()) continue;
    if (!found_device) {
      options = options.device(a.tensor().device());
      found_device = true;
    }
    if (!at::isFloatingType(a.tensor().scalar_type())) continue;
    dtype = found_floating ? at::promote_types(dtype, a.tensor().scalar_type()) : a.tensor().scalar_type();
    found_floating = true;
  }
  return options.dtype(dtype);
}

Shape broadcast_batch_shape(const std::string& dist, const std::vector<BatchedArg>& args) {
  std::vector<int64_t> batch;
  for (size_t i = 0; i < args.size(); ++i) {
    try {
      batch = at::infer_size(batch, batch_part(args[i].tensor, args[i].event_dims));
    } catch (const c10::Error&) {
      std::string shapes;
      for (size_t j = 0; j <= i; ++j) {
        shapes += (j == 0 ? "" : j == i ? " and " : ", ") + args[j].name + " " + shape_string(args[j].tensor.sizes());
      }
      throw DistributionError(dist + ": batch shapes of " + shapes + " do not broadcast");
    }
  }
  return batch;
}

void throw_shape_mismatch(const std::string& dist, const std::string& a_name, const Tensor& a,
                          const std::string& b_name, const Tensor& b, const std::string& expected) {
  throw DistributionError(dist + ": " + a_name + " of shape " + shape_string(a.sizes()) + " does not match " + b_name +
                          " of shape " + shape_string(b.sizes()) + ": expected " + expected);
}

void require_square_matrix(const std::string& dist, const std::string& arg, const Tensor& m) {
  if (m.dim() >= 2 && m.size(-1) == m.size(-2) && m.size(-1) >= 1) return;
  throw DistributionError(dist + ": " + arg + " must have shape (..., n, n) with n >= 1, got " +
                          shape_string(m.sizes()));
}

void require_lower_triangular(const std::string& dist, const std::string& arg, const Tensor& m) {
  if (!validation_enabled()) return;
  Tensor above = m.detach().triu(1);
  Tensor bad = above != 0;
  if (!bad.any().item<bool>()) return;
  Tensor first = at::nonzero(bad.cpu())[0];
  Tensor value = above.cpu();
  for (int64_t d = 0; d < first.size(0); ++d) value = value[first[d].item<int64_t>()];
  std::ostringstream out;
  out << dist << ": " << arg << " must be lower triangular, got " << value.item<double>()
      << " above the diagonal at index " << index_string(first);
  throw DistributionError(out.str());
}

void require_symmetric(const std::string& dist, const std::string& arg, const Tensor& m) {
  if (!validation_enabled()) return;
  Tensor d = m.detach();
  const double eps = d.scalar_type() == at::kDouble ? 1e-10 : 1e-4;
  const double scale = d.abs().max().item<double>();
  const double asym = (d - d.mT()).abs().max().item<double>();
  if (asym <= eps * std::max(scale, 1e-300)) return;
  std::ostringstream out;
  out << dist << ": " << arg << " must be symmetric, got |M - M^T| up to " << asym << " for a matrix of shape "
      << shape_string(m.sizes());
  throw DistributionError(out.str());
}

Tensor cholesky_or_throw(const std::string& dist, const std::string& arg, const Tensor& m) {
  auto [factor, info] = at::linalg_cholesky_ex(m);
  Tensor failed = info != 0;
  if (!failed.any().item<bool>()) return factor;
  std::string where;
  if (info.dim() > 0) where = " (the matrix at batch index " + index_string(at::nonzero(failed.cpu())[0]) + ")";
  throw DistributionError(dist + ": " + arg + " must be positive definite, but its Cholesky factorisation failed" +
                          where);
}

Tensor loc_as_vector(const TensorArg& loc, int64_t n, const at::TensorOptions& options) {
  if (!loc.is_tensor()) return at::full({n}, loc.value(), options);
  Tensor t = loc.tensor().to(options);
  return t.dim() == 0 ? t.expand({n}) : t;
}

std::pair<Tensor, Tensor> broadcast_loc_and_matrix(const std::string& dist, const TensorArg& loc, const Tensor& matrix,
                                                   const std::string& matrix_arg) {
  const int64_t n = matrix.size(-1);
  Tensor l = loc_as_vector(loc, n, matrix.options());
  if (l.size(-1) != n)
    throw_shape_mismatch(dist, "loc", l, matrix_arg, matrix, "loc (..., n) and " + matrix_arg + " (..., n, n)");
  Shape batch = broadcast_batch_shape(dist, {{"loc", l, 1}, {matrix_arg, matrix, 2}});
  Shape vec = batch;
  vec.push_back(n);
  Shape mat = vec;
  mat.push_back(n);
  return {l.expand(vec), matrix.expand(mat)};
}

}  // namespace amortize::dist
