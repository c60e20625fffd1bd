#include "common/worker_pool.h"

#include <algorithm>
#include <utility>

namespace common {

WorkerPool::WorkerPool(int threads) : size_(std::max(1, threads)) {}

WorkerPool::~WorkerPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

void WorkerPool::Post(absl::AnyInvocable<void() &&> task) {
  absl::call_once(started_, [this] {
    threads_.reserve(size_);
    for (int i = 0; i < size_; ++i) threads_.emplace_back([this] { Run(); });
  });
  absl::MutexLock lock(&mu_);
  tasks_.push_back(std::move(task));
}

void WorkerPool::Run() {
  while (true) {
    absl::AnyInvocable<void() &&> task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](WorkerPool* pool) ABSL_EXCLUSIVE_LOCKS_REQUIRED(pool->mu_) {
            return pool->stopping_ || !pool->tasks_.empty();
          },
          this));
      if (tasks_.empty()) return;  // stopping, and nothing left to run
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    std::move(task)();
  }
}

}  // namespace common
