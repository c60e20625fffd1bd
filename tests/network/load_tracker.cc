#include "tests/network/load_tracker.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace network_test {

void LoadTracker::Require(const std::string& fault) {
  absl::MutexLock lock(&mu_);
  if (std::find(required_.begin(), required_.end(), fault) == required_.end()) {
    required_.push_back(fault);
  }
}

void LoadTracker::BeginRun() {
  absl::MutexLock lock(&mu_);
  load_on_ = true;
  load_ended_ = false;
}

void LoadTracker::EndRun() {
  absl::MutexLock lock(&mu_);
  load_on_ = false;
  load_ended_ = true;
}

bool LoadTracker::RequiredFired() const {
  absl::MutexLock lock(&mu_);
  return RequiredFiredLocked();
}

int64_t LoadTracker::acknowledged() const {
  absl::MutexLock lock(&mu_);
  return acknowledged_;
}

int64_t LoadTracker::started() const {
  absl::MutexLock lock(&mu_);
  return started_;
}

bool LoadTracker::AwaitAcknowledged(int64_t count, const std::function<bool()>& done) const {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (acknowledged_ >= count) return true;
    }
    if (done && done()) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

int LoadTracker::Begin(const std::string& fault) {
  absl::MutexLock lock(&mu_);
  Window w;
  w.fault = fault;
  w.in_flight_at_begin = started_ - finished_;
  w.started_at_begin = started_;
  w.counted = !load_ended_;
  windows_.push_back(w);
  ++open_windows_;
  return static_cast<int>(windows_.size()) - 1;
}

void LoadTracker::End(int window) {
  absl::MutexLock lock(&mu_);
  if (window < 0 || window >= static_cast<int>(windows_.size())) return;
  Window& w = windows_[window];
  if (w.orders >= 0) return;  // ended already
  w.orders = OrdersLocked(w);
  w.ended_in_load = load_on_;
  --open_windows_;
}

void LoadTracker::EndAll() {
  absl::MutexLock lock(&mu_);
  for (Window& w : windows_) {
    if (w.orders < 0) {
      w.orders = OrdersLocked(w);
      --open_windows_;
    }
  }
}

int64_t LoadTracker::OrdersLocked(const Window& w) const {
  if (w.orders >= 0) return w.orders;
  return w.in_flight_at_begin + (started_ - w.started_at_begin);
}

bool LoadTracker::RequiredFiredLocked() const {
  for (const std::string& fault : required_) {
    bool fired = false;
    for (const Window& w : windows_) {
      fired |= w.counted && w.fault == fault && w.ended_in_load && w.orders > 0;
    }
    if (!fired) return false;
  }
  return true;
}

void LoadTracker::OrderStarted() {
  absl::MutexLock lock(&mu_);
  ++started_;
}

void LoadTracker::OrderFinished(bool acknowledged) {
  absl::MutexLock lock(&mu_);
  ++finished_;
  if (acknowledged) ++acknowledged_;
}

std::vector<LoadTracker::FaultFigures> LoadTracker::Figures() const {
  absl::MutexLock lock(&mu_);
  std::map<std::string, FaultFigures> by_fault;
  for (const Window& w : windows_) {
    if (!w.counted) continue;
    FaultFigures& f = by_fault[w.fault];
    f.fault = w.fault;
    f.windows++;
    f.orders += OrdersLocked(w);
  }
  for (const std::string& fault : required_) {
    FaultFigures& f = by_fault[fault];
    f.fault = fault;
    f.required = true;
    for (const Window& w : windows_) {
      f.fired |= w.counted && w.fault == fault && w.ended_in_load && w.orders > 0;
    }
  }
  std::vector<FaultFigures> out;
  for (auto& [name, f] : by_fault) out.push_back(f);
  return out;
}

std::string LoadTracker::Summary() const {
  std::string out;
  for (const FaultFigures& f : Figures()) {
    absl::StrAppend(&out, "  fault ", f.fault, ": windows=", f.windows,
                    " orders_attempted=", f.orders, "\n");
  }
  return out;
}

std::vector<std::string> LoadTracker::Unfired() const {
  std::vector<std::string> out;
  for (const FaultFigures& f : Figures()) {
    if (f.windows == 0) {
      out.push_back(absl::StrCat(f.fault, ": required, never placed while orders ran"));
    } else if (f.orders > 0 && f.required && !f.fired) {
      out.push_back(absl::StrCat(f.fault, ": required, still in place when the load ended"));
    } else if (f.orders == 0) {
      out.push_back(absl::StrCat(f.fault, ": placed ", f.windows,
                                 " time(s), no order attempted while it held"));
    }
  }
  return out;
}

}  // namespace network_test
