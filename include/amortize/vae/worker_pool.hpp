// A fixed team of threads for data-parallel training steps: the threads live as long as the
// pool, run(job) runs job(w) on every worker w at once (worker 0 is the calling thread) and
// returns when all are done, and arrive_and_wait() inside a job separates its phases (say,
// gradients, then each worker's share of the optimiser update, then the next step). Waiting threads
// spin briefly before they sleep: a step's phases last milliseconds, and waking a sleeping
// thread costs tens of microseconds.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace amortize::vae {

class WorkerPool {
 public:
  // `size` workers (size - 1 threads are started); throws std::invalid_argument if size < 1.
  explicit WorkerPool(int64_t size);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  int64_t size() const { return size_; }
  // job(w) for every w in [0, size()), concurrently; rethrows the exception of the lowest
  // worker that threw. Not reentrant. A job that can throw before arrive_and_wait() must catch
  // and still arrive (the other workers wait for it).
  void run(const std::function<void(int64_t)>& job);
  // Within a job: blocks until every worker has arrived. The last to arrive runs `completion`
  // (if any) before the others go on; it must not throw.
  void arrive_and_wait(const std::function<void()>& completion = {});
  // The same, called by every worker with its index, with `completion` run by worker 0 (the
  // thread that called run) once the others have arrived: serial work between phases that
  // must stay on that thread.
  void arrive_and_wait_on_first(int64_t worker, const std::function<void()>& completion);

 private:
  void work(int64_t worker);
  template <class Ready>
  void wait_until(const Ready& ready);
  void notify();

  int64_t size_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable changed_;
  const std::function<void(int64_t)>* job_ = nullptr;
  std::atomic<uint64_t> job_generation_{0};
  std::atomic<int64_t> pending_{0};
  std::atomic<int64_t> arrived_{0};
  std::atomic<uint64_t> barrier_generation_{0};
  std::atomic<bool> stop_{false};
  std::vector<std::exception_ptr> errors_;
};

}  // namespace amortize::vae
