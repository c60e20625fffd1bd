// What a service's main.cc needs for admission control (common/admission.h): the flags, the
// options they make, and the metrics. Defines flags: include it from exactly one main.cc per
// binary. Both services use the same flags, so an operator learns them once.
//
// Metrics (read at scrape time; deploy/OPERATIONS.md):
//   admission_limit{service}              the work lane's current concurrency limit
//   admission_in_flight{service,lane}     calls holding a permit
//   admission_queued{service}             calls waiting for a work-lane permit
//   admission_admitted_total{service}
//   admission_refused_total{service,reason}  OVERLOADED, TENANT_OVERLOADED, PRIORITY_OVERLOADED,
//                                            DEADLINE_CANNOT_BE_MET (all answered OVERLOADED but
//                                            the tenant's)
//   admission_dropped_total{service,reason}  DEADLINE_EXPIRED: dropped before any work because the
//                                            caller's deadline passed (before or while queued)
#pragma once

#include <algorithm>
#include <string>

#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "common/admission.h"
#include "common/metrics.h"

ABSL_FLAG(bool, admission, true,
          "admission control: bounded calls in flight and a bounded queue, the rest refused at "
          "once (RESOURCE_EXHAUSTED OVERLOADED with grpc-retry-pushback-ms)");
ABSL_FLAG(std::string, admission_algorithm, "fixed",
          "fixed (--admission_limit) or gradient (Netflix Gradient2: adapts to latency)");
ABSL_FLAG(int, admission_limit, 0,
          "work-lane calls in flight (gradient: the start); 0: 2 x --pool_size");
ABSL_FLAG(int, admission_queue, -1, "work-lane calls waiting for a slot; -1: as many as the limit");
ABSL_FLAG(absl::Duration, admission_max_queue_wait, absl::Milliseconds(500),
          "longest wait in the queue (also bounded by the caller's deadline)");
ABSL_FLAG(int, admission_priority_limit, 16,
          "priority-lane calls in flight (reads of one order, admin RPCs); no queue");
ABSL_FLAG(double, admission_tenant_share, 0.5,
          "with --tokens, the share of the work lane (limit + queue) one tenant may hold");
ABSL_FLAG(absl::Duration, admission_pushback, absl::Milliseconds(100),
          "retry delay a refusal asks for (RetryInfo, grpc-retry-pushback-ms), +-25 % jitter");

ABSL_FLAG(int, max_threads, -1,
          "RPC threads at most (gRPC's thread quota; a call beyond is refused by gRPC with "
          "RESOURCE_EXHAUSTED before any handler); -1: admission's limit + queue + priority "
          "lane + 32 (0: no bound)");

namespace common {

// --max_threads, or by default what admission can hold (each admitted or queued call holds a
// synchronous handler thread) plus room for refusals and health checks in progress.
inline int MaxThreadsFromFlags(const AdmissionOptions& admission) {
  const int flag = absl::GetFlag(FLAGS_max_threads);
  if (flag >= 0) return flag;
  return admission.limit + admission.queue + admission.priority_limit + 32;
}

// The options the flags describe; the fixed limit derives from the database pool: twice its
// connections keeps every connection busy (one call writes while the next is decoded and
// answered) without a queue of calls inside the process.
inline absl::StatusOr<AdmissionOptions> AdmissionOptionsFromFlags(int pool_size) {
  absl::StatusOr<LimitAlgorithm> algorithm =
      ParseLimitAlgorithm(absl::GetFlag(FLAGS_admission_algorithm));
  if (!algorithm.ok()) return algorithm.status();
  AdmissionOptions o;
  o.algorithm = *algorithm;
  o.limit = absl::GetFlag(FLAGS_admission_limit) > 0 ? absl::GetFlag(FLAGS_admission_limit)
                                                     : 2 * pool_size;
  o.min_limit = std::min(o.min_limit, o.limit);
  o.max_limit = std::max(o.max_limit, o.limit);
  o.queue =
      absl::GetFlag(FLAGS_admission_queue) >= 0 ? absl::GetFlag(FLAGS_admission_queue) : o.limit;
  o.max_queue_wait = absl::GetFlag(FLAGS_admission_max_queue_wait);
  o.priority_limit = absl::GetFlag(FLAGS_admission_priority_limit);
  o.tenant_share = absl::GetFlag(FLAGS_admission_tenant_share);
  o.pushback = absl::GetFlag(FLAGS_admission_pushback);
  if (absl::Status s = ValidateAdmissionOptions(o); !s.ok()) return s;
  return o;
}

// `admission` must outlive `metrics`' endpoint (declare it first in main).
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
