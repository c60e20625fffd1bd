// Progress and fault windows for a network scenario, so that faults are triggered by progress
// (orders acknowledged) rather than by the wall clock: the next machine may be twice as fast or
// twice as slow, and a fault scheduled at "500 ms in" may land after the work is over.
//
// - The client reports every order it runs (LoadObserver). A chaos thread waits for progress
//   with AwaitAcknowledged() before it places a fault, and holds it for progress too.
// - A fault is a window: Begin(name) ... End(id). The orders attempted while it held are the
//   orders in flight when it began plus those started before it ended.
// - A fault the scenario requires has fired once one of its windows has ended with an order
//   attempted under it (RequiredFired). Scenario::Run keeps the load going until then, so a
//   plan cannot run out before its faults have fired, however fast the machine.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tests/network/retrying_client.h"

namespace network_test {

class LoadTracker : public LoadObserver {
 public:
  // A fault that must fire, with orders in flight, in every scenario run.
  void Require(const std::string& fault);

  // True once every required fault has had a window end with an order attempted under it.
  bool RequiredFired() const;

  // Scenario::Run brackets its load with these. A window begun before the load (a fault placed
  // for the whole run) counts; one begun after it ended does not.
  void BeginRun();
  void EndRun();

  // Counts over every run so far.
  int64_t acknowledged() const;
  int64_t started() const;
  // Blocks until `count` orders have been acknowledged in all (or `done()`); true when reached.
  bool AwaitAcknowledged(int64_t count, const std::function<bool()>& done) const;

  // A fault in place from Begin to End. A window begun once the load is over is not counted.
  // EndAll() closes every open window (the heal).
  int Begin(const std::string& fault);
  void End(int window);
  void EndAll();

  struct FaultFigures {
    std::string fault;
    int windows = 0;
    int64_t orders = 0;  // orders attempted while it held, over all its windows
    bool required = false;
    bool fired = false;  // required: a window ended with orders attempted under it
  };
  std::vector<FaultFigures> Figures() const;
  // One line per fault: "  fault <name>: windows=N orders_attempted=M".
  std::string Summary() const;
  // What went wrong: required faults that never fired, and faults with no order attempted under
  // any of their windows. Empty when every fault fired with orders in flight.
  std::vector<std::string> Unfired() const;

  // LoadObserver.
  void OrderStarted() override;
  void OrderFinished(bool acknowledged) override;

 private:
  struct Window {
    std::string fault;
    int64_t in_flight_at_begin = 0;
    int64_t started_at_begin = 0;
    int64_t orders = -1;         // set at End; -1 while open
    bool counted = true;         // false when begun after the load ended
    bool ended_in_load = false;  // ended by the scenario while the load ran (not by the heal)
  };
  int64_t OrdersLocked(const Window& w) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool RequiredFiredLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::vector<std::string> required_ ABSL_GUARDED_BY(mu_);
  std::vector<Window> windows_ ABSL_GUARDED_BY(mu_);
  int open_windows_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t started_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t finished_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t acknowledged_ ABSL_GUARDED_BY(mu_) = 0;
  bool load_on_ ABSL_GUARDED_BY(mu_) = false;
  bool load_ended_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace network_test
