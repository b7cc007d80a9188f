#include "amortize/vae/worker_pool.hpp"

#include <chrono>
#include <stdexcept>
#include <string>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace amortize::vae {
namespace {
// Polling this long before a waiting thread sleeps (longer only steals the core from a busy
// machine's other threads).
constexpr auto kSpin = std::chrono::microseconds(30);

inline void cpu_relax() {
#if defined(__x86_64__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}
}  // namespace

WorkerPool::WorkerPool(int64_t size) : size_(size) {
  if (size < 1) throw std::invalid_argument("WorkerPool: size must be at least 1, got " + std::to_string(size));
  errors_.resize(static_cast<size_t>(size));
  threads_.reserve(static_cast<size_t>(size - 1));
  for (int64_t w = 1; w < size; ++w) threads_.emplace_back([this, w] { work(w); });
}

WorkerPool::~WorkerPool() {
  stop_.store(true, std::memory_order_release);
  notify();
  for (auto& t : threads_) t.join();
}

template <class Ready>
void WorkerPool::wait_until(const Ready& ready) {
  const auto until = std::chrono::steady_clock::now() + kSpin;
  for (int i = 1;; ++i) {
    if (ready()) return;
    cpu_relax();
    if (i % 64 == 0 && std::chrono::steady_clock::now() > until) break;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, ready);
}

// Every state change is published before this; taking the mutex orders it after any waiter's
// last check under the lock, so no wake-up is lost.
void WorkerPool::notify() {
  { std::lock_guard<std::mutex> lock(mutex_); }
  changed_.notify_all();
}

void WorkerPool::run(const std::function<void(int64_t)>& job) {
  for (auto& e : errors_) e = nullptr;
  if (size_ > 1) {
    job_ = &job;
    pending_.store(size_ - 1, std::memory_order_relaxed);
    job_generation_.fetch_add(1, std::memory_order_release);
    notify();
  }
  try {
    job(0);
  } catch (...) {
    errors_[0] = std::current_exception();
  }
  if (size_ > 1) {
    wait_until([this] { return pending_.load(std::memory_order_acquire) == 0; });
    job_ = nullptr;
  }
  for (const auto& e : errors_) {
    if (e) std::rethrow_exception(e);
  }
}

void WorkerPool::work(int64_t worker) {
  uint64_t seen = 0;
  for (;;) {
    wait_until([&] {
      return stop_.load(std::memory_order_acquire) || job_generation_.load(std::memory_order_acquire) != seen;
    });
    if (stop_.load(std::memory_order_acquire)) return;
    seen = job_generation_.load(std::memory_order_acquire);
    try {
      (*job_)(worker);
    } catch (...) {
      errors_[static_cast<size_t>(worker)] = std::current_exception();
    }
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) notify();
  }
}

void WorkerPool::arrive_and_wait(const std::function<void()>& completion) {
  if (size_ == 1) {
    if (completion) completion();
    return;
  }
  const uint64_t generation = barrier_generation_.load(std::memory_order_acquire);
  if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == size_) {
    if (completion) completion();
    arrived_.store(0, std::memory_order_relaxed);
    barrier_generation_.fetch_add(1, std::memory_order_release);
    notify();
    return;
  }
  wait_until([&] { return barrier_generation_.load(std::memory_order_acquire) != generation; });
}

void WorkerPool::arrive_and_wait_on_first(int64_t worker, const std::function<void()>& completion) {
  if (size_ == 1) {
    completion();
    return;
  }
  const uint64_t generation = barrier_generation_.load(std::memory_order_acquire);
  if (worker != 0) {
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == size_ - 1) notify();
    wait_until([&] { return barrier_generation_.load(std::memory_order_acquire) != generation; });
    return;
  }
  wait_until([&] { return arrived_.load(std::memory_order_acquire) == size_ - 1; });
  completion();
  arrived_.store(0, std::memory_order_relaxed);
  barrier_generation_.fetch_add(1, std::memory_order_release);
  notify();
}

}  // namespace amortize::vae
