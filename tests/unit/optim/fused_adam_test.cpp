// The fused Adam kernel (infer/optim/fused_adam.hpp): against the ATen operations it replaces,
// and Adam's partitioned step (workers' gradients summed in the pass, elements split over
// parts) against an ordinary step on the summed gradient. Deterministic arithmetic: the
// tolerances are rounding errors, and where the same floats must come out, equality.
#include "amortize/infer/optim/adam.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/optim/adam.h>

#include <atomic>
#include <thread>

using namespace amortize;
using namespace amortize::infer::optim;

namespace {

at::Generator gen(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

// A noisy quadratic in p (target + noise), gradient written into p.grad().
void set_gradient(Tensor& p, const Tensor& target, at::Generator& noise) {
  at::NoGradGuard no_grad;
  p.mutable_grad() = 2 * (p.detach() - target) + 0.3 * at::randn(p.sizes(), noise, p.options());
}

}  // namespace

TEST(FusedAdam, FollowsTheAtenOperationsOfANonContiguousParameter) {
  // The same float32 problem through the fused kernel (contiguous parameter) and through the
  // ATen operations (a transposed, non-contiguous parameter); 200 steps, so both moments, the
  // bias correction and the update all matter; and the contiguous one against torch::optim::Adam.
  auto target = at::randn({40, 30}, gen(1), at::kFloat);
  Tensor fused = at::zeros({40, 30}, at::kFloat).requires_grad_(true);
  Tensor strided = at::zeros({30, 40}, at::kFloat).t().requires_grad_(true);
  Tensor theirs = at::zeros({40, 30}, at::kFloat).requires_grad_(true);
  ASSERT_FALSE(strided.is_contiguous());
  Adam a(0.05, {0.9, 0.999, 1e-8, 0.01}), b(0.05, {0.9, 0.999, 1e-8, 0.01});
  a.add_parameter("p", fused);
  b.add_parameter("p", strided);
  torch::optim::Adam torch_adam({theirs}, torch::optim::AdamOptions(0.05).weight_decay(0.01));
  auto n1 = gen(2), n2 = gen(2), n3 = gen(2);
  for (int step = 0; step < 200; ++step) {
    set_gradient(fused, target, n1);
    set_gradient(strided, target, n2);
    set_gradient(theirs, target, n3);
    a.step();
    b.step();
    torch_adam.step();
  }
  const double moved = target.abs().max().item<double>();
  ASSERT_LT((fused - target).abs().max().item<double>(), 0.1 * moved);  // it did train
  EXPECT_LT((fused - strided).abs().max().item<double>(), 1e-5 * moved);
  EXPECT_LT((fused - theirs).abs().max().item<double>(), 1e-5 * moved);
}

TEST(FusedAdam, PartitionedStepSumsTheWorkersGradientsForAnySplit) {
  // Three parameters (float, float with an odd size, double): two workers' gradients summed in
  // the pass equal an ordinary step on their sum, whatever the number of parts, bit for bit.
  auto make = [] {
    return std::vector<Tensor>{at::linspace(-1, 1, 1000, at::kFloat).requires_grad_(true),
                               at::full({7, 3}, 0.5, at::kFloat).requires_grad_(true),
                               at::zeros({5}, at::kDouble).requires_grad_(true)};
  };
  const std::vector<std::string> names{"w", "b", "d"};
  auto reference = make();
  Adam ordinary(0.05);
  for (size_t i = 0; i < names.size(); ++i) ordinary.add_parameter(names[i], reference[i]);
  std::vector<std::vector<Tensor>> split{make(), make(), make()};
  std::vector<std::unique_ptr<Adam>> partitioned;
  for (auto& params : split) {
    partitioned.push_back(std::make_unique<Adam>(0.05));
    for (size_t i = 0; i < names.size(); ++i) partitioned.back()->add_parameter(names[i], params[i]);
  }
  const int64_t parts[] = {1, 3, 7};
  auto noise = gen(3);
  for (int step = 0; step < 5; ++step) {
    std::vector<std::vector<Tensor>> workers(2);
    for (auto& w : workers) {
      for (const auto& p : reference) w.push_back(at::randn(p.sizes(), noise, p.options()));
    }
    if (step == 2) workers[1][1] = Tensor();  // a worker without this gradient: it counts as zero
    for (size_t i = 0; i < reference.size(); ++i) {
      reference[i].mutable_grad() = workers[1][i].defined() ? workers[0][i] + workers[1][i] : workers[0][i].clone();
    }
    ordinary.step();
    for (size_t k = 0; k < split.size(); ++k) {
      partitioned[k]->begin_partitioned_step(names, workers);
      for (int64_t part = parts[k] - 1; part >= 0; --part) partitioned[k]->update_partition(part, parts[k]);
    }
  }
  for (size_t k = 0; k < split.size(); ++k) {
    EXPECT_EQ(partitioned[k]->steps(), 5);
    for (size_t i = 0; i < names.size(); ++i) {
      EXPECT_TRUE(at::equal(split[k][i], reference[i])) << names[i] << " with " << parts[k] << " parts";
      EXPECT_TRUE(
          at::equal(partitioned[k]->state(names[i]).at("exp_avg_sq"), ordinary.state(names[i]).at("exp_avg_sq")));
    }
  }
  EXPECT_FALSE(at::equal(reference[0], make()[0]));
}

TEST(FusedAdam, PartsClaimedByTwoThreadsMakeTheWholeStepOnce) {
  // Two threads claim 16 parts of each step from one counter: every element is updated exactly
  // once (a part skipped or taken twice would change the floats), as an ordinary step.
  Tensor reference = at::linspace(-1, 1, 5000, at::kFloat).requires_grad_(true);
  Tensor claimed = reference.detach().clone().requires_grad_(true);
  Adam ordinary(0.05), partitioned(0.05);
  ordinary.add_parameter("w", reference);
  partitioned.add_parameter("w", claimed);
  auto noise = gen(4);
  for (int step = 0; step < 5; ++step) {
    std::vector<std::vector<Tensor>> workers{{at::randn({5000}, noise)}, {at::randn({5000}, noise)}};
    reference.mutable_grad() = workers[0][0] + workers[1][0];
    ordinary.step();
    partitioned.begin_partitioned_step({"w"}, workers);
    std::atomic<int64_t> next{0};
    std::thread other([&] { partitioned.update_claimed_partitions(next, 16); });
    partitioned.update_claimed_partitions(next, 16);
    other.join();
    EXPECT_EQ(next.load(), 18);  // each thread's last claim found nothing left
  }
  EXPECT_TRUE(at::equal(claimed, reference));
  EXPECT_TRUE(at::equal(partitioned.state("w").at("exp_avg"), ordinary.state("w").at("exp_avg")));
}

TEST(FusedAdam, PartitionedStepThatZeroesTheGradientsUpdatesTheSameAndLeavesThemZero) {
  // zero_gradients: the same update (float and double, one, two and three workers' gradients),
  // and every element of every gradient read is left zero, whichever part updated it.
  for (auto dtype : {at::kFloat, at::kDouble}) {
    for (int64_t workers : {1, 2, 3}) {
      Tensor keep = at::linspace(-1, 1, 999, dtype).requires_grad_(true);
      Tensor zero = keep.detach().clone().requires_grad_(true);
      Adam a(0.05), b(0.05);
      a.add_parameter("w", keep);
      b.add_parameter("w", zero);
      auto noise = gen(5);
      for (int step = 0; step < 3; ++step) {
        std::vector<std::vector<Tensor>> grads;
        for (int64_t w = 0; w < workers; ++w) grads.push_back({at::randn({999}, noise, dtype)});
        std::vector<std::vector<Tensor>> copies;
        for (const auto& g : grads) copies.push_back({g[0].clone()});
        a.begin_partitioned_step({"w"}, copies);
        b.begin_partitioned_step({"w"}, grads, 1.0, /*zero_gradients=*/true);
        for (int64_t part = 0; part < 5; ++part) {
          a.update_partition(part, 5);
          b.update_partition(part, 5);
        }
        for (int64_t w = 0; w < workers; ++w) {
          EXPECT_EQ(grads[w][0].abs().max().item<double>(), 0.0);
          EXPECT_GT(copies[w][0].abs().max().item<double>(), 0.0);
        }
      }
      EXPECT_TRUE(at::equal(keep, zero)) << workers << " workers";
    }
  }
}

TEST(FusedAdam, PartitionedStepRefusesWhatItCannotUpdateAndLeavesTheStateAlone) {
  Tensor p = at::zeros({4, 3}, at::kFloat).requires_grad_(true);
  Tensor q = at::zeros({3, 4}, at::kFloat).t().requires_grad_(true);
  Adam adam(0.1);
  adam.add_parameter("p", p);
  adam.add_parameter("q", q);
  auto g = at::ones({4, 3}, at::kFloat);
  EXPECT_THROW(adam.begin_partitioned_step({"r"}, {{g}}), std::invalid_argument);
  EXPECT_THROW(adam.begin_partitioned_step({"q"}, {{g}}), std::invalid_argument);  // not contiguous
  EXPECT_THROW(adam.begin_partitioned_step({"p"}, {{g.t()}}), std::invalid_argument);
  EXPECT_THROW(adam.begin_partitioned_step({"p"}, {{g.to(at::kDouble)}}), std::invalid_argument);
  EXPECT_THROW(adam.begin_partitioned_step({"p"}, {{g}, {}}), std::invalid_argument);  // a worker short
  EXPECT_EQ(adam.steps(), 0);
  EXPECT_TRUE(adam.state("p").empty());
  adam.begin_partitioned_step({"p"}, {{g}});
  EXPECT_THROW(adam.update_partition(2, 2), std::invalid_argument);
  adam.update_partition(0, 1);
  // The first step moves every element by the learning rate against the gradient's sign.
  EXPECT_TRUE(at::allclose(p, at::full({4, 3}, -0.1f), 0, 1e-6));
}

TEST(FusedAdam, ParameterRangesUpdateTheSameAsPartitions) {
  // Ranges of each parameter in any order and at any boundaries (here, uneven rows of a matrix,
  // one element at a time for the vector) give the partitions' bits; a parameter without a
  // gradient is left alone, and a range outside the parameter or an unknown index throws.
  Tensor m1 = at::linspace(-1, 1, 35, at::kFloat).reshape({5, 7}).requires_grad_(true);
  Tensor v1 = at::linspace(0, 2, 9, at::kFloat).requires_grad_(true);
  Tensor m2 = m1.detach().clone().requires_grad_(true), v2 = v1.detach().clone().requires_grad_(true);
  Tensor idle = at::ones({3}, at::kFloat).requires_grad_(true);
  Adam a(0.05), b(0.05);
  a.add_parameter("m", m1);
  a.add_parameter("v", v1);
  b.add_parameter("m", m2);
  b.add_parameter("v", v2);
  b.add_parameter("idle", idle);
  auto noise = gen(7);
  for (int step = 0; step < 3; ++step) {
    std::vector<std::vector<Tensor>> grads;
    for (int w = 0; w < 2; ++w) grads.push_back({at::randn({5, 7}, noise), at::randn({9}, noise), Tensor()});
    a.begin_partitioned_step({"m", "v"}, {{grads[0][0], grads[0][1]}, {grads[1][0], grads[1][1]}});
    b.begin_partitioned_step({"m", "v", "idle"}, grads);
    for (int64_t part = 0; part < 3; ++part) a.update_partition(part, 3);
    b.update_parameter_range(0, 3 * 7, 5 * 7);
    for (int64_t i = 8; i >= 0; --i) b.update_parameter_range(1, i, i + 1);
    b.update_parameter_range(0, 0, 3 * 7);
    b.update_parameter_range(2, 0, 3);
  }
  EXPECT_TRUE(at::equal(m1, m2));
  EXPECT_TRUE(at::equal(v1, v2));
  EXPECT_TRUE(at::equal(idle, at::ones({3}, at::kFloat)));
  EXPECT_THROW(b.update_parameter_range(0, 30, 36), std::invalid_argument);
  EXPECT_THROW(b.update_parameter_range(1, 2, 1), std::invalid_argument);
  EXPECT_THROW(b.update_parameter_range(3, 0, 1), std::invalid_argument);
}
