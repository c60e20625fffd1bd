#include "order_service/outbox_admin_service.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/errors.h"
#include "common/grpc_admission.h"
#include "common/grpc_metadata.h"
#include "common/page_token.h"
#include "common/status_mapper.h"
#include "common/storable_text.h"
#include "order_service/error_domain.h"

namespace orders {
namespace {

grpc::Status ToGrpc(const absl::Status& status) {
  return common::ToGrpcStatus(status, kOrdersErrorDomain);
}

}  // namespace

grpc::Status OutboxAdminService::Authorize(grpc::ServerContext* context,
                                           const google::protobuf::Message& request,
                                           common::AdmissionController::Permit* permit) const {
  absl::StatusOr<std::string> admin =
      common::AuthorizeAdmin(admins_, tenants_, common::BearerTokenOf(*context));
  if (!admin.ok()) return ToGrpc(admin.status());
  // The text rule of both services (common/storable_text.h), as OrderGrpcService::ScopeOf
  // applies it to OrderService: no handler below sees text PostgreSQL cannot store.
  if (absl::Status s = common::CheckStorableText(request); !s.ok()) return ToGrpc(s);
  auto admitted = common::AdmitCall(admission_, *context, common::AdmissionLane::kPriority, *admin);
  if (!admitted.ok()) return ToGrpc(admitted.status());
  *permit = *std::move(admitted);
  return grpc::Status::OK;
}

grpc::Status OutboxAdminService::ListOutboxEvents(
    grpc::ServerContext* context, const orders::v1::ListOutboxEventsRequest* request,
    orders::v1::ListOutboxEventsResponse* response) {
  common::AdmissionController::Permit permit;
  if (grpc::Status denied = Authorize(context, *request, &permit); !denied.ok()) return denied;
  if (absl::Status s =
          common::CheckEnumValue(orders::v1::OutboxEventStatus_descriptor(), request->status(),
                                 "status", "OUTBOX_EVENT_STATUS_INVALID");
      !s.ok()) {
    return ToGrpc(s);
  }
  // PostgreSQL computes now() - min_age: beyond its interval and timestamp range the statement
  // failed ("interval out of range", "timestamp out of range"). No event is a century old.
  if (request->min_age_seconds() > kMaxOutboxMinAgeSeconds) {
    return ToGrpc(common::InvalidArgument(
        "MIN_AGE_INVALID", "min_age_seconds is at most 100 years",
        {{"min_age_seconds", absl::StrCat("at most ", kMaxOutboxMinAgeSeconds)}}));
  }
  OutboxListQuery query;
  query.status = request->status();
  query.min_age = absl::Seconds(std::max<int64_t>(0, request->min_age_seconds()));
  if (request->page_size() < 0 || request->page_size() > 500) {
    return ToGrpc(common::InvalidArgument("PAGE_SIZE_INVALID", "page_size must be 0..500",
                                          {{"page_size", "between 0 and 500"}}));
  }
  query.page_size = request->page_size() == 0 ? 50 : request->page_size();
  const std::string page_query = common::PageQuery(
      {"orders.v1.OutboxAdmin/ListOutboxEvents", absl::StrCat(static_cast<int>(request->status())),
       absl::StrCat(request->min_age_seconds())});
  absl::StatusOr<int64_t> after_id =
      common::DecodePageToken(request->page_token(), page_query, "PAGE_TOKEN_INVALID");
  if (!after_id.ok()) return ToGrpc(after_id.status());
  query.after_id = *after_id;
  auto events = store_.List(query);
  if (!events.ok()) return ToGrpc(events.status());
  for (auto& e : *events) *response->add_events() = std::move(e);
  if (static_cast<int>(response->events_size()) == query.page_size) {
    response->set_next_page_token(
        common::EncodePageToken(page_query, response->events().rbegin()->id()));
  }
  return grpc::Status::OK;
}

grpc::Status OutboxAdminService::RequeueOutboxEvents(
    grpc::ServerContext* context, const orders::v1::RequeueOutboxEventsRequest* request,
    orders::v1::RequeueOutboxEventsResponse* response) {
  common::AdmissionController::Permit permit;
  if (grpc::Status denied = Authorize(context, *request, &permit); !denied.ok()) return denied;
  auto requeued = store_.Requeue({request->ids().begin(), request->ids().end()});
  if (!requeued.ok()) return ToGrpc(requeued.status());
  response->set_requeued(*requeued);
  return grpc::Status::OK;
}

grpc::Status OutboxAdminService::GetOutboxStats(grpc::ServerContext* context,
                                                const orders::v1::GetOutboxStatsRequest* request,
                                                orders::v1::OutboxStats* response) {
  common::AdmissionController::Permit permit;
  if (grpc::Status denied = Authorize(context, *request, &permit); !denied.ok()) return denied;
  auto counts = store_.Counts();
  if (!counts.ok()) return ToGrpc(counts.status());
  response->set_pending(counts->pending);
  response->set_dead(counts->dead);
  response->set_oldest_pending_age_seconds(absl::ToDoubleSeconds(counts->oldest_pending_age));
  response->set_open_attempts(counts->open_attempts);
  if (relay_ != nullptr) {
    RelayStats stats = relay_->Stats();
    response->set_relay_claimed(stats.claimed);
    response->set_relay_completed(stats.completed);
    response->set_relay_rescheduled(stats.rescheduled);
    response->set_relay_buried(stats.buried);
    response->set_relay_lease_lost(stats.lease_lost);
    response->set_relay_key_conflicts(stats.key_conflicts);
    response->set_relay_asked_payments(stats.asked_payments);
    const auto& latency = relay_->commit_to_sent();
    response->set_commit_to_sent_p50_ms(absl::ToDoubleMilliseconds(latency.Percentile(0.5)));
    response->set_commit_to_sent_p99_ms(absl::ToDoubleMilliseconds(latency.Percentile(0.99)));
    response->set_commit_to_sent_max_ms(absl::ToDoubleMilliseconds(latency.max()));
    response->set_commit_to_sent_count(latency.count());
  }
  return grpc::Status::OK;
}

grpc::Status OutboxAdminService::Reconcile(grpc::ServerContext* context,
                                           const orders::v1::ReconcileRequest* request,
                                           orders::v1::ReconcileReport* response) {
  common::AdmissionController::Permit permit;
  if (grpc::Status denied = Authorize(context, *request, &permit); !denied.ok()) return denied;
  if (reconciler_ == nullptr) {
    return ToGrpc(common::ErrorWithReason(absl::StatusCode::kFailedPrecondition,
                                          "RECONCILER_UNAVAILABLE",
                                          "this process runs no reconciler"));
  }
  absl::StatusOr<orders::v1::ReconcileReport> report = reconciler_->Run(request->repair());
  if (!report.ok()) return ToGrpc(report.status());
  *response = *std::move(report);
  return grpc::Status::OK;
}

}  // namespace orders
