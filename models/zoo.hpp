// The built-in models: the eight posteriors of posteriordb that amortize is tested against,
// each a short function in the model language, registered under the posterior's name with
// the data fields its data.json must hold.
#pragma once
#include "amortize/infer/elbo.hpp"
#include "amortize/io/data_file.hpp"

#include <functional>
#include <string>
#include <vector>

namespace amortize::models {

struct ModelSpec {
  std::string name;
  std::string description;
  std::vector<std::string> data_fields;
  // Builds the model program from its data, in the dtype and on the device of `options`.
  std::function<infer::Program(const io::DataFile&, at::TensorOptions)> make;
};

const std::vector<ModelSpec>& zoo();
// Throws std::invalid_argument listing the known names when `name` is unknown.
const ModelSpec& find_model(const std::string& name);

}  // namespace amortize::models
