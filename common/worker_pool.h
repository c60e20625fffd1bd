// Threads that run the work of RPCs answered through gRPC's callback API (common/callback_serve.h):
// a callback handler must not block gRPC's own threads, so what may block (an admission queue, the
// database) runs here. Fixed size, FIFO.
#pragma once

#include <deque>
#include <thread>
#include <vector>

#include "absl/base/call_once.h"
#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace common {

class WorkerPool {
 public:
  // A pool of `threads` (at least 1) threads, started by the first Post: an adapter whose calls
  // all come through its synchronous entries (in-process callers, the fuzz targets, which build
  // a service per input) never starts them.
  explicit WorkerPool(int threads);
  // Runs every task already posted, then joins the threads.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Runs `task` on a pool thread, after the tasks posted before it. Thread-safe.
  void Post(absl::AnyInvocable<void() &&> task);

 private:
  void Run();

  const int size_;
  absl::once_flag started_;
  absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;  // written once, under started_
};

}  // namespace common
