// Internal: the functions that build each zoo model from its data.
#pragma once
#include "zoo.hpp"

namespace amortize::models::detail {
infer::Program eight_schools_noncentered(const io::DataFile& data, at::TensorOptions options);
infer::Program earnings(const io::DataFile& data, at::TensorOptions options);
infer::Program kidiq(const io::DataFile& data, at::TensorOptions options);
infer::Program mesquite(const io::DataFile& data, at::TensorOptions options);
infer::Program sblrc(const io::DataFile& data, at::TensorOptions options);
infer::Program ar_k(const io::DataFile& data, at::TensorOptions options);
infer::Program garch11(const io::DataFile& data, at::TensorOptions options);
infer::Program low_dim_gauss_mix(const io::DataFile& data, at::TensorOptions options);
}  // namespace amortize::models::detail
