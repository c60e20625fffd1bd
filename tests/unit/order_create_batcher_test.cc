// CreateBatcher with an in-memory writer: batching rules, not SQL.
#include <atomic>
#include <set>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "order_service/create_batcher.h"

namespace orders {
namespace {

struct RecordingWriter {
  absl::Mutex mu;
  std::vector<std::vector<std::string>> batches;  // keys of each batch
  std::atomic<int> writing{0};
  std::atomic<int> most_at_once{0};

  void Write(const std::vector<PendingCreate*>& batch) {
    const int now = ++writing;
    int seen = most_at_once.load();
    while (now > seen && !most_at_once.compare_exchange_weak(seen, now)) {
    }
    absl::SleepFor(absl::Milliseconds(5));  // a commit takes a while; others queue meanwhile
    std::vector<std::string> keys;
    for (PendingCreate* p : batch) {
      keys.push_back(p->key);
      p->written = true;
    }
    --writing;
    absl::MutexLock lock(&mu);
    batches.push_back(keys);
  }
};

std::vector<std::unique_ptr<PendingCreate>> SubmitAll(CreateBatcher& batcher,
                                                      const std::vector<std::string>& keys) {
  std::vector<std::unique_ptr<PendingCreate>> pending;
  for (const auto& key : keys) {
    pending.push_back(std::make_unique<PendingCreate>());
    pending.back()->tenant = "t";
    pending.back()->method = "m";
    pending.back()->key = key;
  }
  std::vector<std::thread> threads;
  for (auto& p : pending) threads.emplace_back([&batcher, &p] { batcher.Submit(*p); });
  for (auto& t : threads) t.join();
  return pending;
}

TEST(CreateBatcherTest, ConcurrentRequestsAreWrittenTogetherWithinTheLimits) {
  RecordingWriter writer;
  CreateBatcher batcher([&writer](const auto& batch) { writer.Write(batch); }, /*lanes=*/2,
                        /*max_batch=*/8);
  std::vector<std::string> keys;
  for (int i = 0; i < 100; ++i) keys.push_back("k" + std::to_string(i));
  auto pending = SubmitAll(batcher, keys);

  std::set<std::string> written;
  for (const auto& batch : writer.batches) {
    EXPECT_LE(batch.size(), 8u);
    for (const auto& key : batch) EXPECT_TRUE(written.insert(key).second) << key << " twice";
  }
  EXPECT_EQ(written.size(), 100u);
  for (const auto& p : pending) {
    EXPECT_TRUE(p->finished);
    ASSERT_TRUE(p->written.ok());
    EXPECT_TRUE(*p->written);
  }
  EXPECT_LE(writer.most_at_once.load(), 2);
  const CreateBatcher::Stats stats = batcher.stats();
  EXPECT_EQ(stats.requests, 100);
  EXPECT_LT(stats.batches, 100);  // some requests shared a commit
  EXPECT_GT(stats.largest, 1);
}

TEST(CreateBatcherTest, OneKeyNeverAppearsTwiceInABatch) {
  RecordingWriter writer;
  CreateBatcher batcher([&writer](const auto& batch) { writer.Write(batch); }, 1, 32);
  std::vector<std::string> keys(12, "same");
  keys.push_back("other");
  SubmitAll(batcher, keys);
  int same = 0;
  for (const auto& batch : writer.batches) {
    EXPECT_LE(std::count(batch.begin(), batch.end(), "same"), 1);
    same += std::count(batch.begin(), batch.end(), "same");
  }
  EXPECT_EQ(same, 12);
}

TEST(CreateBatcherTest, AloneARequestIsWrittenAtOnce) {
  RecordingWriter writer;
  CreateBatcher batcher([&writer](const auto& batch) { writer.Write(batch); }, 1, 32);
  SubmitAll(batcher, {"a"});
  SubmitAll(batcher, {"b"});
  ASSERT_EQ(writer.batches.size(), 2u);
  EXPECT_EQ(writer.batches[0], std::vector<std::string>{"a"});
}

TEST(CreateBatcherTest, ARequestWhoseCallerHasGoneIsNeverWritten) {
  // One lane, held by a first request until the test lets it go: the others queue behind it.
  absl::Notification release;
  std::atomic<int> writes_started{0};
  std::vector<std::string> written;
  absl::Mutex mu;
  CreateBatcher batcher(
      [&](const std::vector<PendingCreate*>& batch) {
        ++writes_started;
        release.WaitForNotification();
        absl::MutexLock lock(&mu);
        for (PendingCreate* p : batch) {
          written.push_back(p->key);
          p->written = true;
        }
      },
      /*lanes=*/1, /*max_batch=*/8);
  PendingCreate first{.tenant = "t", .method = "m", .key = "first"};
  PendingCreate gone{.tenant = "t", .method = "m", .key = "gone"};
  gone.deadline = absl::Now() + absl::Milliseconds(20);
  PendingCreate waiting{.tenant = "t", .method = "m", .key = "waiting"};
  std::thread t1([&] { batcher.Submit(first); });
  while (writes_started.load() == 0) absl::SleepFor(absl::Milliseconds(1));  // the lane is busy
  std::thread t2([&] { batcher.Submit(gone); });
  std::thread t3([&] { batcher.Submit(waiting); });
  // Progress, not a fixed sleep: on once the queued request's deadline has passed.
  while (absl::Now() <= gone.deadline) absl::SleepFor(absl::Milliseconds(1));
  release.Notify();
  t1.join();
  t2.join();
  t3.join();
  EXPECT_EQ(gone.written.status().code(), absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(waiting.written.ok());
  EXPECT_TRUE(*waiting.written);
  EXPECT_EQ(written, (std::vector<std::string>{"first", "waiting"}));
  EXPECT_EQ(batcher.stats().expired, 1);
}

}  // namespace
}  // namespace orders
