// The persistent worker pool: every worker runs every job once, the barrier's completion runs
// once per phase with every worker's writes visible, errors come back to the caller, and the
// pool stays usable after one; a meeting can keep its completion on the calling thread.
#include "amortize/vae/worker_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

using amortize::vae::WorkerPool;

TEST(WorkerPool, RunsEveryWorkerOncePerJobWithWorkerZeroOnTheCaller) {
  for (int64_t size : {1, 2, 3}) {
    WorkerPool pool(size);
    std::vector<std::atomic<int>> calls(static_cast<size_t>(size));
    std::atomic<bool> zero_on_caller{true};
    const auto caller = std::this_thread::get_id();
    for (int job = 0; job < 200; ++job) {
      pool.run([&](int64_t w) {
        calls[static_cast<size_t>(w)].fetch_add(1);
        if (w == 0 && std::this_thread::get_id() != caller) zero_on_caller = false;
      });
    }
    for (const auto& c : calls) EXPECT_EQ(c.load(), 200) << "pool of " << size;
    EXPECT_TRUE(zero_on_caller);
  }
  EXPECT_THROW(WorkerPool(0), std::invalid_argument);
}

TEST(WorkerPool, BarrierCompletionSeesEveryWorkersPhaseAndRunsOnce) {
  WorkerPool pool(3);
  std::vector<int64_t> written(3);
  int64_t completions = 0, total = 0;
  std::vector<int64_t> seen(3);
  for (int64_t job = 0; job < 300; ++job) {
    pool.run([&](int64_t w) {
      written[static_cast<size_t>(w)] = job * 10 + w;
      pool.arrive_and_wait([&] {
        ++completions;
        total = written[0] + written[1] + written[2];
      });
      seen[static_cast<size_t>(w)] = total;  // phase two reads what the completion made of phase one
      pool.arrive_and_wait();
    });
    for (int64_t s : seen) ASSERT_EQ(s, 30 * job + 3) << "job " << job;
  }
  EXPECT_EQ(completions, 300);
}

TEST(WorkerPool, AWorkersErrorReachesTheCallerAndThePoolGoesOn) {
  WorkerPool pool(2);
  EXPECT_THROW(pool.run([](int64_t w) {
    if (w == 1) throw std::runtime_error("worker 1 failed");
  }),
               std::runtime_error);
  std::atomic<int> ran{0};
  pool.run([&](int64_t) { ran.fetch_add(1); });
  EXPECT_EQ(ran.load(), 2);
}

TEST(WorkerPool, AMeetingOnTheFirstWorkerRunsItsCompletionOnTheCallerAfterEveryoneArrived) {
  // One job of many phases, as an epoch of steps: each meeting's completion runs once, on the
  // thread that called run, with every worker's phase written; a mix with the plain barrier too.
  for (int64_t size : {1, 2, 3}) {
    WorkerPool pool(size);
    const auto caller = std::this_thread::get_id();
    std::vector<int64_t> written(static_cast<size_t>(size));
    int64_t completions = 0, phase = 0;
    bool on_caller = true, complete = true, done = false;
    pool.run([&](int64_t w) {
      while (!done) {
        written[static_cast<size_t>(w)] = phase * 10 + w;
        pool.arrive_and_wait();
        pool.arrive_and_wait_on_first(w, [&] {
          ++completions;
          on_caller = on_caller && std::this_thread::get_id() == caller;
          for (int64_t u = 0; u < size; ++u) complete = complete && written[static_cast<size_t>(u)] == phase * 10 + u;
          done = ++phase == 500;
        });
      }
    });
    EXPECT_EQ(completions, 500) << "pool of " << size;
    EXPECT_TRUE(on_caller) << "pool of " << size;
    EXPECT_TRUE(complete) << "pool of " << size;
  }
}
