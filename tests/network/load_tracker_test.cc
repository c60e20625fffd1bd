#include "tests/network/load_tracker.h"

#include <thread>

#include "gtest/gtest.h"

namespace network_test {
namespace {

// One order through the observer, as RetryingClient::Run reports it.
void RunOrder(LoadTracker& t, bool ack = true) {
  t.OrderStarted();
  t.OrderFinished(ack);
}

TEST(LoadTracker, CountsOrdersInFlightAndStartedWhileAFaultHolds) {
  LoadTracker t;
  t.BeginRun();
  t.OrderStarted();  // in flight when the fault begins
  const int w = t.Begin("payment down");
  RunOrder(t);
  RunOrder(t, /*ack=*/false);
  t.OrderFinished(true);
  t.End(w);
  RunOrder(t);  // after the fault: not counted
  auto figures = t.Figures();
  ASSERT_EQ(figures.size(), 1u);
  EXPECT_EQ(figures[0].fault, "payment down");
  EXPECT_EQ(figures[0].windows, 1);
  EXPECT_EQ(figures[0].orders, 3);
  EXPECT_EQ(t.acknowledged(), 3);
  EXPECT_TRUE(t.Unfired().empty());
}

TEST(LoadTracker, AFaultWithNoOrderInFlightIsReported) {
  LoadTracker t;
  t.BeginRun();
  t.Require("never placed");
  const int w = t.Begin("idle");
  t.End(w);
  auto unfired = t.Unfired();
  ASSERT_EQ(unfired.size(), 2u);
  EXPECT_NE(unfired[0].find("idle"), std::string::npos);
  EXPECT_NE(unfired[1].find("never placed"), std::string::npos);
}

TEST(LoadTracker, AFaultPlacedAfterTheLoadIsNotCounted) {
  LoadTracker t;
  t.BeginRun();
  RunOrder(t);
  RunOrder(t);
  t.EndRun();
  t.End(t.Begin("too late"));  // the work is over: it says nothing about the scenario
  EXPECT_TRUE(t.Figures().empty());
  EXPECT_TRUE(t.Unfired().empty());
}

// A required fault has fired once a window of it ended with an order attempted under it: a
// window still open, or one that saw no order, is not enough.
TEST(LoadTracker, ARequiredFaultFiresWhenAWindowWithOrdersEnds) {
  LoadTracker t;
  t.Require("fault");
  t.BeginRun();
  EXPECT_FALSE(t.RequiredFired());
  t.End(t.Begin("fault"));  // nothing in flight, nothing started
  EXPECT_FALSE(t.RequiredFired());
  const int w = t.Begin("fault");
  RunOrder(t);
  EXPECT_FALSE(t.RequiredFired()) << "still in place";
  t.End(w);
  EXPECT_TRUE(t.RequiredFired());
  EXPECT_TRUE(t.Unfired().empty()) << t.Summary();
  EXPECT_EQ(t.Figures()[0].windows, 2);
  EXPECT_EQ(t.Figures()[0].orders, 1);
}

TEST(LoadTracker, ARequiredFaultStillInPlaceAtTheEndIsReported) {
  LoadTracker t;
  t.Require("fault");
  t.BeginRun();
  (void)t.Begin("fault");
  RunOrder(t);
  t.EndRun();
  t.EndAll();  // the heal
  ASSERT_EQ(t.Unfired().size(), 1u);
  EXPECT_NE(t.Unfired()[0].find("still in place"), std::string::npos);
}

TEST(LoadTracker, AFaultPlacedBeforeTheRunCounts) {
  LoadTracker t;
  const int w = t.Begin("latency for the whole run");
  t.BeginRun();
  RunOrder(t);
  t.EndRun();
  t.End(w);
  ASSERT_EQ(t.Figures().size(), 1u);
  EXPECT_EQ(t.Figures()[0].orders, 1);
}

TEST(LoadTracker, AwaitAcknowledgedReturnsOnProgressOrDone) {
  LoadTracker t;
  t.BeginRun();
  std::thread worker([&] {
    for (int i = 0; i < 3; ++i) RunOrder(t);
  });
  EXPECT_TRUE(t.AwaitAcknowledged(3, nullptr));
  worker.join();
  EXPECT_FALSE(t.AwaitAcknowledged(4, [] { return true; }));
}

}  // namespace
}  // namespace network_test
