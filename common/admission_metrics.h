// Admission control's metrics (common/admission.h), for the code that wires a service.
//
// Metrics (read at scrape time; deploy/OPERATIONS.md):
//   admission_limit{service}              the work lane's current concurrency limit
//   admission_in_flight{service,lane}     calls holding a permit
//   admission_queued{service}             calls waiting for a work-lane permit
//   admission_standing_queue{service}     1 while the queue stands (not empty, or a wait ended
//                                         in vain, within 100 ms): its calls then wait at most
//                                         --admission_standing_queue_wait
//   admission_pushback_seconds{service}   the retry delay a refusal asks for now (adaptive)
//   admission_admitted_total{service}
//   admission_refused_total{service,reason}  OVERLOADED, TENANT_OVERLOADED, PRIORITY_OVERLOADED,
//                                            DEADLINE_CANNOT_BE_MET (all answered OVERLOADED but
//                                            the tenant's)
//   admission_dropped_total{service,reason}  DEADLINE_EXPIRED: dropped before any work because the
//                                            caller's deadline passed (before or while queued)
#pragma once

#include <string>

#include "common/admission.h"
#include "common/metrics.h"

namespace common {

// `admission` must outlive `metrics`' endpoint (declare it first where the service is wired).
inline void AddAdmissionMetrics(Metrics& metrics, const AdmissionController& admission,
                                const std::string& service) {
  metrics.AddCollector([&admission, service](MetricsWriter& w) {
    const AdmissionController::Stats s = admission.stats();
    const MetricLabels base = {{"service", service}};
    auto with = [&](const char* k, const char* v) {
      MetricLabels l = base;
      l[k] = v;
      return l;
    };
    w.Gauge("admission_limit", "Work-lane concurrency limit.", s.limit, base);
    w.Gauge("admission_in_flight", "Calls holding a permit.", s.in_flight, with("lane", "work"));
    w.Gauge("admission_in_flight", "Calls holding a permit.", s.priority_in_flight,
            with("lane", "priority"));
    w.Gauge("admission_queued", "Calls waiting for a work-lane permit.", s.queued, base);
    w.Gauge("admission_standing_queue",
            "1 while the work queue stands (overload: short queue waits).",
            s.standing_queue ? 1 : 0, base);
    w.Gauge("admission_pushback_seconds", "Retry delay a refusal asks for now (before jitter).",
            absl::ToDoubleSeconds(s.pushback), base);
    w.Counter("admission_admitted_total", "Calls admitted.", static_cast<double>(s.admitted), base);
    const char* refused_help = "Calls refused at once (RESOURCE_EXHAUSTED), by ErrorInfo reason.";
    w.Counter("admission_refused_total", refused_help, static_cast<double>(s.refused_overloaded),
              with("reason", "OVERLOADED"));
    w.Counter("admission_refused_total", refused_help, static_cast<double>(s.refused_tenant),
              with("reason", "TENANT_OVERLOADED"));
    w.Counter("admission_refused_total", refused_help, static_cast<double>(s.refused_priority),
              with("reason", "PRIORITY_OVERLOADED"));
    w.Counter("admission_refused_total", refused_help, static_cast<double>(s.refused_deadline),
              with("reason", "DEADLINE_CANNOT_BE_MET"));
    w.Counter("admission_dropped_total",
              "Calls dropped before any work because the caller's deadline had passed.",
              static_cast<double>(s.dropped_deadline), with("reason", "DEADLINE_EXPIRED"));
  });
}

}  // namespace common
