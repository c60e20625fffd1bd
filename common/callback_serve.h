// Serving a unary call through gRPC's callback API with admission control, the pattern of both
// services' adapters. gRPC calls a callback handler on the thread that read the request, and
// that thread must never block; so the handler takes only what is cheap there (the caller, the
// request's own rules) and admission's decision (AdmissionController::Enter), and answers a
// refusal at once. Admitted and queued calls move to a WorkerPool, which waits for a queued
// call's slot and runs the work with the permit held. With gRPC's synchronous API every call
// first waited for a free handler thread, handed over one call at a time: in an overload storm
// on 2 cores, 1-10 % of the calls waited 70-90 ms there before any of our code ran, refusals
// included (bench/overload_phase.sh; the RPC log's deadline_left_ms shows that wait).
// Include only from adapters' .cc files: it brings gRPC's headers.
#pragma once

#include <string>
#include <utility>
#include <variant>

#include "absl/strings/string_view.h"
#include "common/admission.h"
#include "common/grpc_admission.h"
#include "common/status_mapper.h"
#include "common/worker_pool.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"

namespace common {

// Answers the call now, on gRPC's thread (a refusal before admission: bad input, an unknown
// caller, injected chaos).
inline grpc::ServerUnaryReactor* AnswerNow(grpc::CallbackServerContext* context,
                                           const grpc::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

// Takes admission's decision for `tenant` on `lane` here (`admission` may be null: admitted);
// a refusal (RESOURCE_EXHAUSTED with RetryInfo and grpc-retry-pushback-ms, or DEADLINE_EXCEEDED,
// see common/admission.h) is answered at once, mapped into `error_domain` (a constant: the
// reference is kept until the call ends). Otherwise `work` (grpc::Status(), movable) runs on
// `workers` once the call holds its permit, and its status is the answer; the permit is
// returned before the answer is sent, as a synchronous handler returns it.
template <typename Work>
grpc::ServerUnaryReactor* AdmitThenRun(grpc::CallbackServerContext* context,
                                       AdmissionController* admission, WorkerPool& workers,
                                       AdmissionLane lane, absl::string_view tenant,
                                       absl::string_view error_domain, Work work) {
  auto entered = EnterCall(admission, *context, lane, tenant);
  if (!entered.ok()) return AnswerNow(context, ToGrpcStatus(entered.status(), error_domain));
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  workers.Post([context, reactor, admission, error_domain, entered = *std::move(entered),
                work = std::move(work)]() mutable {
    grpc::Status status;
    {
      absl::StatusOr<AdmissionController::Permit> permit =
          std::holds_alternative<AdmissionController::Permit>(entered)
              ? std::move(std::get<AdmissionController::Permit>(entered))
              : AwaitCall(admission, *context,
                          std::move(std::get<AdmissionController::Ticket>(entered)));
      status = permit.ok() ? work() : ToGrpcStatus(permit.status(), error_domain);
    }
    reactor->Finish(status);
  });
  return reactor;
}

// AdmitThenRun on the calling thread, for the synchronous entries in-process callers use:
// admission's whole decision (its queue wait included) here, then `work` with the permit held.
template <typename Work>
grpc::Status AdmitThenRunNow(grpc::ServerContextBase* context, AdmissionController* admission,
                             AdmissionLane lane, absl::string_view tenant,
                             absl::string_view error_domain, Work work) {
  absl::StatusOr<AdmissionController::Permit> permit = AdmitCall(admission, *context, lane, tenant);
  if (!permit.ok()) return ToGrpcStatus(permit.status(), error_domain);
  return work();
}

}  // namespace common

// Defines both entries of a unary method `Method` of the adapter class `Service`: the callback one
// gRPC calls, and `Method##Now` on the calling thread for in-process callers (the fuzz targets).
// Both run `Method##Work` under the method's `Shape` through the class's own Serve / ServeNow, so
// the two entries cannot drift apart. Use at namespace scope in the adapter's .cc file.
#define COMMON_SERVE_UNARY(Service, Method, Request, Response, Shape)                     \
  grpc::ServerUnaryReactor* Service::Method(grpc::CallbackServerContext* context,         \
                                            const Request* request, Response* response) { \
    return Serve<&Service::Method##Work>(context, request, response, Shape);              \
  }                                                                                       \
  grpc::Status Service::Method##Now(grpc::ServerContext* context, const Request* request, \
                                    Response* response) {                                 \
    return ServeNow<&Service::Method##Work>(context, request, response, Shape);           \
  }
