// OutboxAdmin request validation from arbitrary bytes: the input is parsed as an OutboxAdminCall
// (fuzz_input.proto), and the call runs through the real adapter (OutboxAdminService: admin
// credential, text rule, enum and page checks) over an outbox store that records what reaches it.
//
// Invariants: every refusal is deterministic (fuzz::CheckRefusal); an operator RPC is refused
// unless its caller is authorized (common::AuthorizeAdmin: open only when no tokens are
// configured); what reaches the store is in range (page size 1..500, a known status, a position
// from a token this service issued, a non-negative age); a next_page_token is accepted again.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "common/auth.h"
#include "fuzz_input.pb.h"
#include "fuzz_support.h"
#include "grpcpp/server_context.h"
#include "grpcpp/test/server_context_test_spouse.h"
#include "order_service/outbox_admin_service.h"
#include "order_service/outbox_store.h"

namespace {

// Answers with as many events as asked for (ids after the position), and checks its input.
class RecordingStore final : public orders::OutboxStore {
 public:
  absl::StatusOr<std::vector<orders::OutboxEvent>> Claim(const std::string&, int,
                                                         absl::Duration) override {
    return std::vector<orders::OutboxEvent>{};
  }
  absl::StatusOr<int64_t> ExtendLeases(const std::vector<int64_t>&, const std::string&,
                                       absl::Duration) override {
    return 0;
  }
  absl::StatusOr<std::vector<bool>> CompleteAll(const std::vector<orders::Completion>& completions,
                                                const std::string&) override {
    return std::vector<bool>(completions.size(), false);
  }
  absl::StatusOr<bool> Reschedule(const orders::OutboxEvent&, const std::string&, absl::Duration,
                                  const std::string&) override {
    return false;
  }
  absl::StatusOr<bool> Bury(const orders::OutboxEvent&, const std::string&,
                            const std::string&) override {
    return false;
  }
  absl::StatusOr<std::vector<orders::v1::OutboxEvent>> List(
      const orders::OutboxListQuery& q) override {
    FUZZ_CHECK(q.page_size >= 1 && q.page_size <= 500, "page size %d reached the store",
               q.page_size);
    FUZZ_CHECK(orders::v1::OutboxEventStatus_IsValid(q.status), "status %d reached the store",
               static_cast<int>(q.status));
    FUZZ_CHECK(q.after_id >= 0, "position %lld reached the store",
               static_cast<long long>(q.after_id));
    FUZZ_CHECK(q.min_age >= absl::ZeroDuration(), "a negative age reached the store");
    // PostgreSQL computes now() - min_age; beyond its range the statement fails (22008).
    FUZZ_CHECK(q.min_age <= absl::Hours(24 * 365 * 1000), "an age of %s reached the store",
               absl::FormatDuration(q.min_age).c_str());
    std::vector<orders::v1::OutboxEvent> events;
    for (int i = 1; i <= q.page_size && q.after_id < INT64_MAX - i; ++i) {
      events.emplace_back().set_id(q.after_id + i);
    }
    return events;
  }
  absl::StatusOr<int64_t> Requeue(const std::vector<int64_t>& ids) override {
    return static_cast<int64_t>(ids.size());
  }
  absl::StatusOr<orders::OutboxCounts> Counts() override { return orders::OutboxCounts{}; }
};

const common::TokenAuthenticator& Tokens(absl::string_view spec) {
  static auto* cache = new std::map<std::string, common::TokenAuthenticator>();
  auto it = cache->find(std::string(spec));
  if (it == cache->end()) {
    it = cache->emplace(std::string(spec), *common::TokenAuthenticator::Parse(spec)).first;
  }
  return it->second;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::OutboxAdminCall call;
  if (!call.ParseFromArray(data, static_cast<int>(size))) return -1;
  const fuzz::Metadata& md = call.metadata();
  const auto& tenants = Tokens(md.tokens() ? "tok-a=tenant-a" : "");
  const auto& admins = Tokens(md.admin_tokens() ? "adm-1=ops" : "");
  RecordingStore store;
  orders::OutboxAdminService service(store, nullptr, admins, tenants);
  auto run = [&](auto&& invoke) {
    grpc::ServerContext context;
    grpc::testing::ServerContextTestSpouse spouse(&context);
    for (const std::string& v : md.authorization()) spouse.AddClientMetadata("authorization", v);
    for (const std::string& v : md.idempotency_key())
      spouse.AddClientMetadata("idempotency-key", v);
    grpc::Status s = invoke(&context);
    if (!s.ok()) {
      fuzz::CheckRefusal(s);
    } else if (md.admin_tokens()) {
      FUZZ_CHECK(md.authorization_size() == 1 &&
                     absl::StartsWithIgnoreCase(md.authorization(0), "Bearer ") &&
                     md.authorization(0).substr(7) == "adm-1",
                 "an operator RPC was answered without the admin token");
    } else {
      FUZZ_CHECK(!md.tokens(), "an operator RPC was open while tenant tokens are configured");
    }
    return s;
  };
  switch (call.request_case()) {
    case fuzz::OutboxAdminCall::kListOutboxEvents: {
      orders::v1::ListOutboxEventsResponse response;
      grpc::Status s = run([&](grpc::ServerContext* c) {
        return service.ListOutboxEvents(c, &call.list_outbox_events(), &response);
      });
      if (s.ok() && !response.next_page_token().empty()) {
        orders::v1::ListOutboxEventsRequest next = call.list_outbox_events();
        next.set_page_token(response.next_page_token());
        orders::v1::ListOutboxEventsResponse page;
        grpc::Status n =
            run([&](grpc::ServerContext* c) { return service.ListOutboxEvents(c, &next, &page); });
        FUZZ_CHECK(n.ok(), "the next page's token was refused: %s", n.error_message().c_str());
        FUZZ_CHECK(page.events_size() == 0 ||
                       page.events(0).id() > response.events(response.events_size() - 1).id(),
                   "the next page did not continue after the last event");
      }
      break;
    }
    case fuzz::OutboxAdminCall::kRequeueOutboxEvents: {
      orders::v1::RequeueOutboxEventsResponse response;
      run([&](grpc::ServerContext* c) {
        return service.RequeueOutboxEvents(c, &call.requeue_outbox_events(), &response);
      });
      break;
    }
    case fuzz::OutboxAdminCall::kGetOutboxStats: {
      orders::v1::OutboxStats response;
      run([&](grpc::ServerContext* c) {
        return service.GetOutboxStats(c, &call.get_outbox_stats(), &response);
      });
      break;
    }
    case fuzz::OutboxAdminCall::kReconcile: {
      orders::v1::ReconcileReport response;
      grpc::Status s = run([&](grpc::ServerContext* c) {
        return service.Reconcile(c, &call.reconcile(), &response);
      });
      FUZZ_CHECK(!s.ok(), "Reconcile answered without a reconciler");
      break;
    }
    case fuzz::OutboxAdminCall::REQUEST_NOT_SET:
      break;
  }
  return 0;
}
