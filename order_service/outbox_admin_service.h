// gRPC adapter of OutboxAdmin: list events, re-queue DEAD ones, outbox and relay figures.
#pragma once

#include "common/admission.h"
#include "common/auth.h"
#include "order_service/outbox_relay.h"
#include "order_service/outbox_store.h"
#include "order_service/reconciler.h"
#include "orders/v1/orders.grpc.pb.h"

namespace orders {

// ListOutboxEvents refuses a larger min_age_seconds (INVALID_ARGUMENT MIN_AGE_INVALID): 100 years,
// far inside what PostgreSQL's now() - interval can compute.
inline constexpr int64_t kMaxOutboxMinAgeSeconds = 100LL * 365 * 24 * 3600;

class OutboxAdminService final : public orders::v1::OutboxAdmin::Service {
 public:
  // `relay` may be null (an api-only process): relay figures are then zero. Every RPC is
  // authorized by common::AuthorizeAdmin(admins, tenants, bearer token) first; both
  // authenticators outlive the service.
  // `reconciler` may be null: Reconcile then answers FAILED_PRECONDITION. `admission` may be
  // null; with one, every RPC runs on its priority lane (operators can look while the work lane
  // is full; common/admission.h).
  OutboxAdminService(OutboxStore& store, const OutboxRelay* relay,
                     const common::TokenAuthenticator& admins,
                     const common::TokenAuthenticator& tenants, Reconciler* reconciler = nullptr,
                     common::AdmissionController* admission = nullptr)
      : store_(store),
        relay_(relay),
        admins_(admins),
        tenants_(tenants),
        reconciler_(reconciler),
        admission_(admission) {}

  grpc::Status ListOutboxEvents(grpc::ServerContext* context,
                                const orders::v1::ListOutboxEventsRequest* request,
                                orders::v1::ListOutboxEventsResponse* response) override;
  grpc::Status RequeueOutboxEvents(grpc::ServerContext* context,
                                   const orders::v1::RequeueOutboxEventsRequest* request,
                                   orders::v1::RequeueOutboxEventsResponse* response) override;
  grpc::Status GetOutboxStats(grpc::ServerContext* context,
                              const orders::v1::GetOutboxStatsRequest* request,
                              orders::v1::OutboxStats* response) override;
  // Errors: the reconciler's (UNAVAILABLE while payments or the database cannot be read).
  grpc::Status Reconcile(grpc::ServerContext* context, const orders::v1::ReconcileRequest* request,
                         orders::v1::ReconcileReport* response) override;

 private:
  // Every RPC passes here first: the admin credential (common::AuthorizeAdmin), then the text
  // rule of both services on the whole request (INVALID_ARGUMENT TEXT_NOT_STORABLE naming each
  // field; common/storable_text.h), then a permit of the priority lane (held in `permit` for
  // the call; RESOURCE_EXHAUSTED OVERLOADED with pushback when that lane is full).
  grpc::Status Authorize(grpc::ServerContext* context, const google::protobuf::Message& request,
                         common::AdmissionController::Permit* permit) const;

  OutboxStore& store_;
  const OutboxRelay* relay_;
  const common::TokenAuthenticator& admins_;
  const common::TokenAuthenticator& tenants_;
  Reconciler* reconciler_;
  common::AdmissionController* admission_;
};

}  // namespace orders
