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
#include "common/storable_text.h"
#include "fuzz_input.pb.h"
#include "fuzz_service_call.h"
#include "fuzz_support.h"
#include "grpcpp/server_context.h"
#include "payment_service/faults.h"
#include "payment_service/memory_ledger.h"
#include "payment_service/payment_grpc_service.h"
#include "payment_service/payments.h"
#include "payment_service/validation.h"

namespace {

using fuzz::KeyedMethod;
using fuzz::Method;
using fuzz::Read;
using payment_service::ValidateCharge;
using payment_service::ValidateRefund;
using Service = payment_service::PaymentGrpcService;

const common::TokenAuthenticator& Auth(bool tokens) {
  static const auto* authenticators = new fuzz::Authenticators("tok-a=orders-a,tok-b=orders-b");
  return authenticators->Get(tokens);
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
        return KeyedMethod(md, service, &Service::ChargeNow, call.charge(),
                           [&](const grpc::Status& s, const auto&) {
                             FUZZ_CHECK(!s.ok() || ValidateCharge(call.charge()).ok(),
                                        "an invalid charge was accepted");
                           });
      case fuzz::PaymentServiceCall::kRefund:
        return KeyedMethod(md, service, &Service::RefundNow, call.refund(),
                           [&](const grpc::Status& s, const auto&) {
                             FUZZ_CHECK(!s.ok() || ValidateRefund(call.refund()).ok(),
                                        "an invalid refund was accepted");
                           });
      case fuzz::PaymentServiceCall::kGetCharge:
        return Method(md, service, &Service::GetChargeNow, call.get_charge());
      case fuzz::PaymentServiceCall::kListCharges: {
        const auto& list = call.list_charges();
        return Method(
            md, service, &Service::ListChargesNow, list,
            [&](const grpc::Status& s, const payments::v1::ListChargesResponse& page) {
              if (!s.ok()) return;
              if (list.has_created_after()) {
                FUZZ_CHECK(
                    IsValidTimestamp(list.created_after()),
                    "created_after outside google.protobuf.Timestamp's range was accepted: %s",
                    list.created_after().ShortDebugString().c_str());
              }
              fuzz::CheckNextPageAccepted(md, service, &Service::ListChargesNow, list, page);
            });
      }
      case fuzz::PaymentServiceCall::kGetLedgerSummary:
        return Method(md, service, &Service::GetLedgerSummaryNow, call.get_ledger_summary());
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
  return fuzz::RunCallWithHistory<fuzz::PaymentServiceCall, Harness>(data, size);
}
