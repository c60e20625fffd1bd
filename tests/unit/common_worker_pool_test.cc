// The worker pool behind callback handlers (common/worker_pool.h): every posted task runs, in
// order on one thread, at once on another while one blocks, and the destructor runs what is left.
#include <atomic>
#include <filesystem>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/worker_pool.h"
#include "gtest/gtest.h"

namespace {

TEST(WorkerPoolTest, OneThreadRunsTasksInOrder) {
  absl::Mutex mu;
  std::vector<int> order;
  {
    common::WorkerPool pool(1);
    for (int i = 0; i < 100; ++i) {
      pool.Post([&, i] {
        absl::MutexLock lock(&mu);
        order.push_back(i);
      });
    }
  }  // the destructor runs every task already posted
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
}

// A blocked task (an admission wait, a database call) never holds up the next one.
TEST(WorkerPoolTest, ABlockedTaskLeavesTheOtherThreadsWorking) {
  absl::Notification release, second_ran;
  common::WorkerPool pool(2);
  pool.Post([&] { release.WaitForNotification(); });
  pool.Post([&] { second_ran.Notify(); });
  EXPECT_TRUE(second_ran.WaitForNotificationWithTimeout(absl::Seconds(30)));
  release.Notify();
}

// This process's threads, from /proc (Linux).
int ThreadsNow() {
  int n = 0;
  for ([[maybe_unused]] const auto& entry :
       std::filesystem::directory_iterator("/proc/self/task")) {
    ++n;
  }
  return n;
}

// The threads start with the first task: a service whose calls all come through its synchronous
// entries (the fuzz targets build one per input) never pays for them.
TEST(WorkerPoolTest, ThreadsStartWithTheFirstTask) {
  const int before = ThreadsNow();
  common::WorkerPool pool(32);
  EXPECT_EQ(ThreadsNow(), before) << "no thread before the first Post";
  absl::Notification ran;
  pool.Post([&ran] { ran.Notify(); });
  ran.WaitForNotification();
  EXPECT_EQ(ThreadsNow(), before + 32);
}

}  // namespace
