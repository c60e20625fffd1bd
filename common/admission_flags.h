// What a service's configuration needs for admission control (common/admission.h): the flags
// and the options they make. Defines flags: include it from exactly one file per binary (the
// service's config.cc). Both services use the same flags, so an operator learns them once. The
// metrics are in common/admission_metrics.h.
#pragma once

#include <algorithm>
#include <string>

#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "common/admission.h"

ABSL_FLAG(bool, admission, true,
          "admission control: bounded calls in flight and a bounded queue, the rest refused at "
          "once (RESOURCE_EXHAUSTED OVERLOADED with grpc-retry-pushback-ms)");
ABSL_FLAG(std::string, admission_algorithm, "fixed",
          "fixed (--admission_limit) or gradient (Netflix Gradient2: adapts to latency)");
ABSL_FLAG(int, admission_limit, 0,
          "work-lane calls in flight (gradient: the start); 0: 2 x --pool_size");
ABSL_FLAG(int, admission_queue, -1,
          "work-lane calls waiting for a slot (each at most a quarter of its caller's time left; "
          "refused at once when the queue ahead is longer); -1: as many as the limit");
ABSL_FLAG(absl::Duration, admission_max_queue_wait, absl::Milliseconds(500),
          "longest wait in the queue (also bounded by the caller's deadline)");
ABSL_FLAG(absl::Duration, admission_standing_queue_wait, absl::Milliseconds(1),
          "longest wait in a standing queue (not empty, or a wait ended in vain, within 100 ms: "
          "overload; CoDel, as in \"Fail at Scale\"): what cannot be served is refused within "
          "milliseconds");
ABSL_FLAG(int, admission_priority_limit, 16,
          "priority-lane calls in flight (reads of one order, admin RPCs); no queue");
ABSL_FLAG(double, admission_tenant_share, 0.5,
          "with --tokens, the share of the work lane (limit + queue) one tenant may hold");
ABSL_FLAG(absl::Duration, admission_pushback, absl::Milliseconds(100),
          "retry delay a refusal asks for (RetryInfo, grpc-retry-pushback-ms) while refusals are "
          "few; it grows with the storm up to --admission_max_pushback; +-25 % jitter");
ABSL_FLAG(absl::Duration, admission_max_pushback, absl::Seconds(5),
          "the longest retry delay a refusal asks for in a storm");

ABSL_FLAG(int, max_threads, -1,
          "RPC threads at most (gRPC's thread quota; a call beyond is refused by gRPC with "
          "RESOURCE_EXHAUSTED before any handler); -1: admission's limit + queue + priority "
          "lane + 256 (0: no bound)");

namespace common {

// Threads of the default quota above what admission holds (see AdmissionConfigFromFlags).
inline constexpr int kRefusalThreads = 256;

// The admission control the flags describe, for a service with `pool_size` database connections:
// the fixed limit derives from the pool (twice its connections keeps every connection busy, one
// call writing while the next is decoded and answered, without a queue of calls inside the
// process), and the thread quota (--max_threads, -1) from what admission can hold plus room for
// refusals and health checks in progress. Errors: INVALID_ARGUMENT naming the flag.
inline absl::StatusOr<AdmissionConfig> AdmissionConfigFromFlags(int pool_size) {
  absl::StatusOr<LimitAlgorithm> algorithm =
      ParseLimitAlgorithm(absl::GetFlag(FLAGS_admission_algorithm));
  if (!algorithm.ok()) return algorithm.status();
  AdmissionConfig c;
  c.enabled = absl::GetFlag(FLAGS_admission);
  AdmissionOptions& o = c.options;
  o.algorithm = *algorithm;
  o.limit = absl::GetFlag(FLAGS_admission_limit) > 0 ? absl::GetFlag(FLAGS_admission_limit)
                                                     : 2 * pool_size;
  o.min_limit = std::min(o.min_limit, o.limit);
  o.max_limit = std::max(o.max_limit, o.limit);
  o.queue =
      absl::GetFlag(FLAGS_admission_queue) >= 0 ? absl::GetFlag(FLAGS_admission_queue) : o.limit;
  o.max_queue_wait = absl::GetFlag(FLAGS_admission_max_queue_wait);
  o.standing_queue_wait = absl::GetFlag(FLAGS_admission_standing_queue_wait);
  o.priority_limit = absl::GetFlag(FLAGS_admission_priority_limit);
  o.tenant_share = absl::GetFlag(FLAGS_admission_tenant_share);
  o.pushback = absl::GetFlag(FLAGS_admission_pushback);
  o.max_pushback = absl::GetFlag(FLAGS_admission_max_pushback);
  if (absl::Status s = ValidateAdmissionOptions(o); !s.ok()) return s;
  const int threads = absl::GetFlag(FLAGS_max_threads);
  // Gradient may raise the limit up to max_limit: the quota must not refuse (without pushback)
  // what the limit admits.
  const int most = o.algorithm == LimitAlgorithm::kGradient ? o.max_limit : o.limit;
  // The room above what admission holds is for calls being refused. It is wide: gRPC's own
  // refusal skips the priority lane and carries no pushback. Measured in the overload phase
  // with 32 of room: in one run 575 of 7,339 refusals came from the quota and 5 GetOrder probes
  // failed; with no quota, none, at the same 40 MiB of RSS (refused calls end in microseconds, so
  // few threads are busy refusing at once).
  c.worker_threads = most + o.queue + o.priority_limit;
  c.max_threads = threads >= 0 ? threads : c.worker_threads + kRefusalThreads;
  return c;
}

}  // namespace common
