// PaymentService (and PaymentFaultAdmin) request validation from arbitrary bytes: the input is
// parsed as a PaymentServiceCall (fuzz_input.proto), and the call runs through the real gRPC
// adapter (token, text rule, idempotency key) and domain (Payments) over the in-memory ledger.
//
// Invariants:
// - every refusal is deterministic (fuzz::CheckRefusal); the injected faults that answer
//   UNAVAILABLE on purpose are off here (pm_card_flaky fails 0 times), so none is expected;
// - an accepted request holds only storable text, and a Charge or Refund a key in the documented
//   alphabet; an accepted Charge passes ValidateCharge, an accepted Refund ValidateRefund;
// - an accepted ListCharges has a created_after inside google.protobuf.Timestamp's range
//   (0001-01-01 to 9999-12-31, nanos 0..999,999,999: timestamp.proto), which PostgreSQL can
//   compare against; its next_page_token is accepted with the same filters;
// - an accepted fault configuration is what FaultInjector::Validate allows, and drawing
//   latencies from it is defined behaviour;
// - a Charge or Refund that succeeded answers the same response when made again (a replay).
#include <cstdint>
#include <string>

#include "common/auth.h"
#include "common/idempotency.h"
#include "common/storable_text.h"
#include "fuzz_input.pb.h"
#include "fuzz_support.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/server_context.h"
#include "grpcpp/test/server_context_test_spouse.h"
#include "payment_service/faults.h"
#include "payment_service/memory_ledger.h"
#include "payment_service/payment_grpc_service.h"
#include "payment_service/payments.h"
#include "payment_service/validation.h"

namespace {

using google::protobuf::util::MessageDifferencer;

const common::TokenAuthenticator& Auth(bool tokens) {
  static const auto* open = new common::TokenAuthenticator(*common::TokenAuthenticator::Parse(""));
  static const auto* closed = new common::TokenAuthenticator(
      *common::TokenAuthenticator::Parse("tok-a=orders-a,tok-b=orders-b"));
  return tokens ? *closed : *open;
}

struct Call {
  explicit Call(const fuzz::Metadata& metadata) : spouse(&context) {
    for (const std::string& v : metadata.idempotency_key()) {
      spouse.AddClientMetadata(common::kIdempotencyKeyHeader, v);
    }
    for (const std::string& v : metadata.authorization()) {
      spouse.AddClientMetadata("authorization", v);
    }
  }
  grpc::ServerContext context;
  grpc::testing::ServerContextTestSpouse spouse;
};

bool KeyFollowsAlphabet(const fuzz::Metadata& metadata) {
  if (metadata.idempotency_key_size() != 1) return false;
  const std::string& key = metadata.idempotency_key(0);
  if (key.empty() || key.size() > common::kMaxIdempotencyKeyLength) return false;
  for (char c : key) {
    if (c < 0x21 || c > 0x7e || c == ',') return false;
  }
  return true;
}

// google.protobuf.Timestamp's documented range (timestamp.proto).
bool IsValidTimestamp(const google::protobuf::Timestamp& t) {
  return t.seconds() >= -62'135'596'800 && t.seconds() <= 253'402'300'799 && t.nanos() >= 0 &&
         t.nanos() <= 999'999'999;
}

payment_service::FaultConfig NoFaults() {
  payment_service::FaultConfig config;
  config.flaky_failures = 0;
  return config;
}

class Harness {
 public:
  Harness()
      : faults_(NoFaults()),
        payments_(ledger_, faults_),
        open_(payments_, Auth(false)),
        closed_(payments_, Auth(true)),
        admin_(admin_faults_, Auth(false)) {}

  grpc::Status Run(const fuzz::PaymentServiceCall& call) {
    payment_service::PaymentGrpcService& service = call.metadata().tokens() ? closed_ : open_;
    const fuzz::Metadata& md = call.metadata();
    switch (call.request_case()) {
      case fuzz::PaymentServiceCall::kCharge:
        return Keyed(
            md, call.charge(),
            [&](grpc::ServerContext* c, auto* out) {
              grpc::Status s = service.Charge(c, &call.charge(), out);
              FUZZ_CHECK(!s.ok() || payment_service::ValidateCharge(call.charge()).ok(),
                         "an invalid charge was accepted");
              return s;
            },
            payments::v1::Charge());
      case fuzz::PaymentServiceCall::kRefund:
        return Keyed(
            md, call.refund(),
            [&](grpc::ServerContext* c, auto* out) {
              grpc::Status s = service.Refund(c, &call.refund(), out);
              FUZZ_CHECK(!s.ok() || payment_service::ValidateRefund(call.refund()).ok(),
                         "an invalid refund was accepted");
              return s;
            },
            payments::v1::Refund());
      case fuzz::PaymentServiceCall::kGetCharge:
        return Read(
            md, call.get_charge(),
            [&](grpc::ServerContext* c, auto* out) {
              return service.GetCharge(c, &call.get_charge(), out);
            },
            payments::v1::Charge());
      case fuzz::PaymentServiceCall::kListCharges: {
        const auto& list = call.list_charges();
        return Read(
            md, list,
            [&](grpc::ServerContext* c, auto* out) {
              grpc::Status s = service.ListCharges(c, &list, out);
              if (s.ok() && list.has_created_after()) {
                FUZZ_CHECK(
                    IsValidTimestamp(list.created_after()),
                    "created_after outside google.protobuf.Timestamp's range was accepted: %s",
                    list.created_after().ShortDebugString().c_str());
              }
              if (s.ok() && !out->next_page_token().empty()) {
                payments::v1::ListChargesRequest next = list;
                next.set_page_token(out->next_page_token());
                Call again(md);
                payments::v1::ListChargesResponse page;
                grpc::Status n = service.ListCharges(&again.context, &next, &page);
                FUZZ_CHECK(n.ok(), "the next page's token was refused: %s",
                           n.error_message().c_str());
              }
              return s;
            },
            payments::v1::ListChargesResponse());
      }
      case fuzz::PaymentServiceCall::kGetLedgerSummary:
        return Read(
            md, call.get_ledger_summary(),
            [&](grpc::ServerContext* c, auto* out) {
              return service.GetLedgerSummary(c, &call.get_ledger_summary(), out);
            },
            payments::v1::LedgerSummary());
      case fuzz::PaymentServiceCall::kSetFaults: {
        // A FaultInjector of its own: Payments never sleeps on a fuzzed latency.
        const auto& config = call.set_faults();
        return Read(
            md, config,
            [&](grpc::ServerContext* c, auto* out) {
              grpc::Status s = admin_.SetFaults(c, &config, out);
              const bool valid =
                  payment_service::FaultInjector::Validate(payment_service::FromProto(config)).ok();
              if (common::UnstorableTextFields(config).empty()) {
                FUZZ_CHECK(s.ok() == valid, "SetFaults answered %d, Validate %d", s.ok(), valid);
              }
              for (int i = 0; i < 4; ++i) {
                const absl::Duration latency = admin_faults_.NextLatency();
                FUZZ_CHECK(latency >= absl::ZeroDuration(), "a negative latency was drawn");
                admin_faults_.NextFailBefore();
                admin_faults_.NextFailAfter();
                admin_faults_.FlakyAttemptFails("caller", "key");
              }
              return s;
            },
            payments::v1::FaultConfig());
      }
      case fuzz::PaymentServiceCall::REQUEST_NOT_SET:
        break;
    }
    return grpc::Status::OK;
  }

 private:
  template <typename Request, typename Invoke, typename Response>
  grpc::Status Read(const fuzz::Metadata& md, const Request& request, Invoke invoke,
                    Response response) {
    return Once(md, request, invoke, &response);
  }

  template <typename Request, typename Invoke, typename Response>
  grpc::Status Once(const fuzz::Metadata& md, const Request& request, Invoke& invoke,
                    Response* response) {
    Call call(md);
    grpc::Status s = invoke(&call.context, response);
    if (!s.ok()) {
      fuzz::CheckRefusal(s);
    } else {
      FUZZ_CHECK(common::UnstorableTextFields(request).empty(), "unstorable text was accepted");
    }
    return s;
  }

  template <typename Request, typename Invoke, typename Response>
  grpc::Status Keyed(const fuzz::Metadata& md, const Request& request, Invoke invoke,
                     Response original) {
    grpc::Status s = Once(md, request, invoke, &original);
    if (!s.ok()) return s;
    FUZZ_CHECK(KeyFollowsAlphabet(md), "a key outside the documented alphabet was accepted");
    Response replay;
    grpc::Status again = Once(md, request, invoke, &replay);
    FUZZ_CHECK(again.ok(), "a replay was refused: %s", again.error_message().c_str());
    FUZZ_CHECK(MessageDifferencer::Equals(original, replay),
               "a replay answered differently:\n%s\n%s", original.DebugString().c_str(),
               replay.DebugString().c_str());
    return s;
  }

  payment_service::MemoryLedger ledger_;
  payment_service::FaultInjector faults_;
  payment_service::FaultInjector admin_faults_;
  payment_service::Payments payments_;
  payment_service::PaymentGrpcService open_;
  payment_service::PaymentGrpcService closed_;
  payment_service::FaultAdminGrpcService admin_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::PaymentServiceCall call;
  if (!call.ParseFromArray(data, static_cast<int>(size))) return -1;
  Harness harness;
  int budget = 8;
  for (const fuzz::PaymentServiceCall& before : call.before()) {
    if (budget-- == 0) break;
    harness.Run(before);
  }
  harness.Run(call);
  return 0;
}
