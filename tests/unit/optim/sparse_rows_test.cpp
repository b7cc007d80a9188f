#include "amortize/infer/optim/adagrad.hpp"
#include "amortize/infer/optim/adam.hpp"
#include "amortize/infer/optim/rmsprop.hpp"
#include "amortize/infer/optim/sgd.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

using namespace amortize;
using namespace amortize::infer::optim;

namespace {
at::TensorOptions f64() { return at::TensorOptions().dtype(at::kDouble); }
at::TensorOptions i64() { return at::TensorOptions().dtype(at::kLong); }

// Loss of the looked-up rows: a smooth function whose gradient differs row by row.
Tensor row_loss(const Tensor& rows, const Tensor& target) {
  return ((rows - target).square() * at::arange(1, rows.size(1) + 1, rows.options())).sum() + rows.sin().sum();
}

Tensor make_table(int64_t n, int64_t d, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn({n, d}, gen, f64());
}

enum class Mode { kSparseGradient, kTouchedRows };

// Runs `steps` steps that each look up `index` (fixed) from a [n, d] table.
Tensor run_table(Optimizer& opt, Mode mode, const Tensor& index, const Tensor& target, int steps) {
  Tensor table = make_table(10, 3, 5).set_requires_grad(true);
  opt.add_parameter("table", table);
  for (int i = 0; i < steps; ++i) {
    opt.zero_grad();
    Tensor rows = mode == Mode::kSparseGradient ? at::embedding(table, index, -1, false, /*sparse=*/true)
                                                : table.index_select(0, index);
    row_loss(rows, target).backward();
    if (mode == Mode::kTouchedRows) opt.set_touched_rows("table", index);
    opt.step();
  }
  return table.detach();
}
}  // namespace

class SparseRows : public ::testing::TestWithParam<Mode> {};

TEST_P(SparseRows, UntouchedRowsStayBitIdenticalAndTouchedRowsMatchDenseAdam) {
  const Mode mode = GetParam();
  const Tensor index = at::tensor({2, 5, 7}, i64());
  const Tensor target = at::full({3, 3}, 0.5, f64());
  Adam opt(0.05);
  Tensor table = run_table(opt, mode, index, target, 200);
  Tensor initial = make_table(10, 3, 5);
  // Untouched rows: bit-identical; their state never left zero.
  Tensor untouched = at::tensor({0, 1, 3, 4, 6, 8, 9}, i64());
  EXPECT_TRUE(torch::equal(table.index_select(0, untouched), initial.index_select(0, untouched)));
  EXPECT_TRUE(torch::equal(opt.state("table").at("exp_avg_sq").index_select(0, untouched), at::zeros({7, 3}, f64())));
  // Touched rows: a dense Adam on a parameter holding just those rows.
  Tensor dense = initial.index_select(0, index).clone().set_requires_grad(true);
  Adam reference(0.05);
  reference.add_parameter("rows", dense);
  for (int i = 0; i < 200; ++i) {
    reference.zero_grad();
    row_loss(dense, target).backward();
    reference.step();
  }
  EXPECT_TRUE(at::allclose(table.index_select(0, index), dense.detach(), 0, 1e-12));
  EXPECT_GT((table.index_select(0, index) - initial.index_select(0, index)).abs().max().item<double>(), 0.1);
}

TEST_P(SparseRows, ARowLeftOutOfAStepDoesNotDrift) {
  // Dense Adam would keep moving rows 0 and 1 on momentum alone; lazy updates must not.
  const Mode mode = GetParam();
  Tensor table = make_table(6, 2, 9).set_requires_grad(true);
  Adam opt(0.1);
  opt.add_parameter("table", table);
  auto step_with = [&](const Tensor& index) {
    opt.zero_grad();
    Tensor rows =
        mode == Mode::kSparseGradient ? at::embedding(table, index, -1, false, true) : table.index_select(0, index);
    row_loss(rows, at::zeros({index.size(0), 2}, f64())).backward();
    if (mode == Mode::kTouchedRows) opt.set_touched_rows("table", index);
    opt.step();
  };
  step_with(at::tensor({0, 1}, i64()));
  Tensor after_first = table.detach().clone();
  Tensor m_after_first = opt.state("table").at("exp_avg").clone();
  for (int i = 0; i < 20; ++i) step_with(at::tensor({3, 4}, i64()));
  Tensor first_rows = at::tensor({0, 1}, i64());
  EXPECT_TRUE(torch::equal(table.detach().index_select(0, first_rows), after_first.index_select(0, first_rows)));
  EXPECT_TRUE(torch::equal(opt.state("table").at("exp_avg").index_select(0, first_rows),
                           m_after_first.index_select(0, first_rows)));
}

INSTANTIATE_TEST_SUITE_P(Modes, SparseRows, ::testing::Values(Mode::kSparseGradient, Mode::kTouchedRows),
                         [](const auto& param_info) {
                           return param_info.param == Mode::kSparseGradient ? std::string("SparseGradient")
                                                                            : std::string("TouchedRows");
                         });

TEST(SparseRows, DenseAdamWithoutTouchedRowsDoesDrift) {
  // The contrast that makes the lazy test meaningful: the same steps without row marks.
  Tensor table = make_table(6, 2, 9).set_requires_grad(true);
  Adam opt(0.1);
  opt.add_parameter("table", table);
  auto step_with = [&](const Tensor& index) {
    opt.zero_grad();
    row_loss(table.index_select(0, index), at::zeros({index.size(0), 2}, f64())).backward();
    opt.step();
  };
  step_with(at::tensor({0, 1}, i64()));
  Tensor after_first = table.detach().clone();
  for (int i = 0; i < 5; ++i) step_with(at::tensor({3, 4}, i64()));
  EXPECT_FALSE(torch::equal(table.detach().narrow(0, 0, 2), after_first.narrow(0, 0, 2)));
}

TEST(SparseRows, EveryOptimiserLeavesUntouchedRowsAlone) {
  std::vector<std::shared_ptr<Optimizer>> optimizers = {
      std::make_shared<Sgd>(0.05, SgdOptions{0.9, 0.0, true}),
      std::make_shared<Rmsprop>(0.01, RmspropOptions{0.9, 1e-8, 0.5, true}),
      std::make_shared<Adagrad>(0.1),
      std::make_shared<ClippedAdam>(0.05, ClippedAdamOptions{0.9, 0.999, 1e-8, 0.0, 0.5, 0.99}),
  };
  for (auto& opt : optimizers) {
    Tensor table = run_table(*opt, Mode::kSparseGradient, at::tensor({1, 8}, i64()), at::zeros({2, 3}, f64()), 30);
    Tensor initial = make_table(10, 3, 5);
    Tensor untouched = at::tensor({0, 2, 3, 4, 5, 6, 7, 9}, i64());
    EXPECT_TRUE(torch::equal(table.index_select(0, untouched), initial.index_select(0, untouched))) << opt->type_name();
    EXPECT_FALSE(torch::equal(table.index_select(0, at::tensor({1, 8}, i64())),
                              initial.index_select(0, at::tensor({1, 8}, i64()))))
        << opt->type_name();
  }
}

TEST(SparseRows, RejectsBadRowMarks) {
  Tensor table = at::zeros({4, 2}, f64()).set_requires_grad(true);
  Adam opt(0.1);
  opt.add_parameter("table", table);
  EXPECT_THROW(opt.set_touched_rows("other", at::tensor({0}, i64())), std::invalid_argument);
  EXPECT_THROW(opt.set_touched_rows("table", at::tensor({0.0}, f64())), std::invalid_argument);
}
