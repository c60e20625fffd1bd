// Injected faults as Prometheus series, read at scrape time. Wired in main.cc.
//   payments_injected_faults_total{kind="fail_before_charge|fail_after_charge|latency|flaky"}
#pragma once

#include "common/metrics.h"
#include "payment_service/faults.h"

namespace payment_service {

// `faults` must outlive `metrics`.
inline void AddFaultMetrics(common::Metrics& metrics, const FaultInjector& faults) {
  metrics.AddCollector([&faults](common::MetricsWriter& w) {
    const FaultCounters c = faults.counters();
    constexpr char kHelp[] = "Faults injected on purpose (flags or PaymentFaultAdmin).";
    w.Counter("payments_injected_faults_total", kHelp, static_cast<double>(c.fail_before_charge),
              {{"kind", "fail_before_charge"}});
    w.Counter("payments_injected_faults_total", kHelp, static_cast<double>(c.fail_after_charge),
              {{"kind", "fail_after_charge"}});
    w.Counter("payments_injected_faults_total", kHelp, static_cast<double>(c.latency),
              {{"kind", "latency"}});
    w.Counter("payments_injected_faults_total", kHelp, static_cast<double>(c.flaky),
              {{"kind", "flaky"}});
  });
}

}  // namespace payment_service
