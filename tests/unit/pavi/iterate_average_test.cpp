// Iterate averaging: each group of parameters is averaged over its own window of steps, and
// pavi::train averages the global sites' flows and the rest of the shared parameters (encoder,
// local flows) as separate groups.
#include "amortize/pavi/iterate_average.hpp"
#include "amortize/model/param_store.hpp"
#include "amortize/pavi/gre.hpp"
#include "amortize/pavi/pavi_guide.hpp"
#include "amortize/pavi/training.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "test_tensors.hpp"

using namespace amortize;
using namespace amortize::pavi;
using namespace pavi_tests;

TEST(IterateAverage, EachGroupIsAveragedOverItsOwnWindow) {
  model::ParamStore store;
  model::ParamStoreScope scope(store);
  for (const char* name : {"g", "l", "x"}) store.set_unconstrained(name, at::zeros({2}, f64()));
  IterateAverage average;
  average.add_group({"g"}, 4);
  average.add_group({"l"}, 8);
  for (int64_t step = 0; step < 10; ++step) {
    for (const char* name : {"g", "l", "x"}) store.entry(name).unconstrained.fill_(static_cast<double>(step));
    average.record(step);
  }
  average.apply();
  EXPECT_DOUBLE_EQ(store.entry("g").unconstrained[0].item<double>(), 6.5);  // mean of 4..9
  EXPECT_DOUBLE_EQ(store.entry("l").unconstrained[1].item<double>(), 8.5);  // mean of 8, 9
  EXPECT_DOUBLE_EQ(store.entry("x").unconstrained[0].item<double>(), 9.0);  // in no group
  EXPECT_THROW(average.add_group({"g"}, 0), std::invalid_argument);
  EXPECT_THROW(average.add_group({"missing"}, 0), std::invalid_argument);
}

TEST(IterateAverage, TrainAveragesGlobalFlowsAndTheRestSeparately) {
  auto data = generate_gre({40, 3, 2, 4, {}, f64()});
  // Final parameters of a short PAVI-E run with each group's averaging on or off; averaging
  // does not feed back into training, so a group that is off ends exactly as without averaging.
  auto run = [&](double global_from, double local_from) {
    model::ParamStore store;
    model::ParamStoreScope scope(store);
    infer::Program model = [&] { GreModel{data.x, 10}(); };
    PaviOptions po;
    po.encoding = Encoding::Set;
    po.element_data["groups"] = data.x;
    po.batch_size["groups"] = 10;
    PaviGuide guide(model, po);
    TrainingOptions o;
    o.steps = 40;  // 10 epochs of 4 steps
    o.average_from = global_from;
    o.local_average_from = local_from;
    train(model, guide.program(), &guide, o);
    std::map<std::string, Tensor> values;
    for (const auto& name : guide.shared_parameter_names())
      values[name] = store.entry(name).unconstrained.detach().clone();
    return std::make_pair(values, guide.global_parameter_names());
  };
  const auto unaveraged = run(1.0, 1.0);
  const auto& none = unaveraged.first;
  const auto& global = unaveraged.second;
  ASSERT_FALSE(global.empty());
  for (const auto& name : global) EXPECT_EQ(name.rfind("pavi.flow.mu$", 0), 0u) << name;
  bool has_encoder = false, has_local_flow = false;
  for (const auto& [name, v] : none) {
    has_encoder |= name.rfind("pavi.encoder.", 0) == 0;
    has_local_flow |= name.rfind("pavi.flow.mu_g$", 0) == 0;
  }
  EXPECT_TRUE(has_encoder && has_local_flow);
  const auto is_global = [&](const std::string& n) {
    return std::find(global.begin(), global.end(), n) != global.end();
  };
  const auto global_only = run(0.5, 1.0).first, local_only = run(1.0, 0.5).first;
  for (const auto& [name, v] : none) {
    EXPECT_EQ(at::equal(global_only.at(name), v), !is_global(name)) << name;
    EXPECT_EQ(at::equal(local_only.at(name), v), is_global(name)) << name;
  }
}
