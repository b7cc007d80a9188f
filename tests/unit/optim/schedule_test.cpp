#include "amortize/infer/optim/schedule.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

using namespace amortize::infer::optim;

TEST(Schedule, ConstantIsOne) {
  auto s = constant_schedule();
  EXPECT_EQ(s(0), 1.0);
  EXPECT_EQ(s(123456), 1.0);
}

TEST(Schedule, ExponentialPerStepAndOverARun) {
  auto s = exponential_schedule(0.9);
  EXPECT_DOUBLE_EQ(s(0), 1.0);
  EXPECT_DOUBLE_EQ(s(3), 0.729);
  auto over = exponential_decay_over(0.01, 1000);
  EXPECT_DOUBLE_EQ(over(0), 1.0);
  EXPECT_NEAR(over(500), 0.1, 1e-12);
  EXPECT_NEAR(over(1000), 0.01, 1e-12);
  EXPECT_THROW(exponential_schedule(0.0), std::invalid_argument);
  EXPECT_THROW(exponential_decay_over(0.01, 0), std::invalid_argument);
}

TEST(Schedule, StepDecaysEveryKSteps) {
  auto s = step_schedule(10, 0.5);
  EXPECT_EQ(s(0), 1.0);
  EXPECT_EQ(s(9), 1.0);
  EXPECT_EQ(s(10), 0.5);
  EXPECT_EQ(s(19), 0.5);
  EXPECT_EQ(s(25), 0.25);
  EXPECT_THROW(step_schedule(0, 0.5), std::invalid_argument);
}

TEST(Schedule, CosineFallsToItsFloorAndStays) {
  auto s = cosine_schedule(100, 0.1);
  EXPECT_DOUBLE_EQ(s(0), 1.0);
  EXPECT_NEAR(s(50), 0.55, 1e-12);
  EXPECT_NEAR(s(25), 0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI / 4)), 1e-12);
  EXPECT_NEAR(s(100), 0.1, 1e-12);
  EXPECT_NEAR(s(1000), 0.1, 1e-12);
  for (int t = 1; t <= 100; ++t) EXPECT_LE(s(t), s(t - 1));
  EXPECT_THROW(cosine_schedule(100, 1.5), std::invalid_argument);
}

TEST(Schedule, LinearWarmupComposesWithAnotherSchedule) {
  auto plain = linear_warmup(4);
  EXPECT_DOUBLE_EQ(plain(0), 0.25);
  EXPECT_DOUBLE_EQ(plain(1), 0.5);
  EXPECT_DOUBLE_EQ(plain(3), 1.0);
  EXPECT_DOUBLE_EQ(plain(100), 1.0);
  auto warm_step = linear_warmup(4, step_schedule(10, 0.5));
  EXPECT_DOUBLE_EQ(warm_step(1), 0.5);
  EXPECT_DOUBLE_EQ(warm_step(12), 0.5);
  auto warm_cos = linear_warmup(10, cosine_schedule(100));
  EXPECT_NEAR(warm_cos(4), 0.5 * cosine_schedule(100)(4), 1e-15);
  EXPECT_THROW(linear_warmup(0), std::invalid_argument);
}

TEST(Schedule, KlAnnealingRisesLinearlyToOne) {
  auto beta = kl_annealing(0.2, 100);
  EXPECT_DOUBLE_EQ(beta(0), 0.2);
  EXPECT_NEAR(beta(50), 0.6, 1e-12);
  EXPECT_DOUBLE_EQ(beta(100), 1.0);
  EXPECT_DOUBLE_EQ(beta(5000), 1.0);
  EXPECT_THROW(kl_annealing(1.5, 10), std::invalid_argument);
  EXPECT_THROW(kl_annealing(0.0, 0), std::invalid_argument);
}
