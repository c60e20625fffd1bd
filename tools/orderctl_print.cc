// orderctl: how answers and errors are printed (text, or JSON with --json).
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "client/orders_client.h"
#include "common/env.h"
#include "common/errors.h"
#include "common/logging.h"
#include "common/status_mapper.h"
#include "common/tls.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "tools/orderctl.h"

namespace orderctl {

namespace v1 = orders::v1;
using google::protobuf::Message;

std::string ToJson(const Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

// Exit 1 with the status on stderr (and as JSON on stdout with --json).
int Fail(const absl::Status& status, const orders_client::CallInfo* info) {
  const std::string code = absl::StatusCodeToString(status.code());
  const std::string reason = common::ErrorReason(status).value_or("");
  if (absl::GetFlag(FLAGS_json)) {
    common::JsonLine line;
    line.Str("error", absl::AsciiStrToUpper(code))
        .Str("reason", reason)
        .Str("message", status.message());
    if (info && !info->idempotency_key.empty()) line.Str("idempotency_key", info->idempotency_key);
    if (info) line.Int("attempts", info->attempts);
    std::printf("%s\n", line.Build().c_str());
  }
  std::fprintf(stderr, "orderctl: %s%s%s: %s\n", absl::AsciiStrToUpper(code).c_str(),
               reason.empty() ? "" : " ", reason.c_str(), std::string(status.message()).c_str());
  for (const std::string& field : common::ViolatedFields(status)) {
    std::fprintf(stderr, "  invalid field: %s\n", field.c_str());
  }
  if (info && !info->idempotency_key.empty()) {
    std::fprintf(stderr, "  idempotency key %s (%d attempt%s)\n", info->idempotency_key.c_str(),
                 info->attempts, info->attempts == 1 ? "" : "s");
    // Only a transient failure leaves the outcome open; a deterministic one will not change.
    if (orders_client::IsRetryable(status)) {
      std::fprintf(stderr, "  the outcome is unknown: rerun with --key=%s to finish it safely\n",
                   info->idempotency_key.c_str());
    }
  }
  return 1;
}

std::string Money(int64_t minor, const std::string& currency) {
  const bool zero_decimal = currency == "JPY" || currency == "KRW" || currency == "VND" ||
                            currency == "CLP" || currency == "ISK";
  if (zero_decimal) return absl::StrCat(minor, " ", currency);
  const char* sign = minor < 0 ? "-" : "";
  const int64_t abs = minor < 0 ? -minor : minor;
  return absl::StrFormat("%s%d.%02d %s", sign, abs / 100, abs % 100, currency);
}

// Per-currency totals as "5.00 USD, 500 JPY" ("none" when empty): never one mixed sum.
std::string Totals(const google::protobuf::RepeatedPtrField<v1::MoneyTotal>& totals) {
  if (totals.empty()) return "none";
  std::vector<std::string> parts;
  for (const auto& t : totals) parts.push_back(Money(t.amount_minor_units(), t.currency()));
  return absl::StrJoin(parts, ", ");
}

std::string StatusName(v1::OrderStatus status) {
  std::string name = v1::OrderStatus_Name(status);
  constexpr absl::string_view kPrefix = "ORDER_STATUS_";
  return absl::StartsWith(name, kPrefix) ? name.substr(kPrefix.size()) : name;
}

std::string TimeText(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  return google::protobuf::util::TimeUtil::ToString(t);
}

void PrintOrder(const v1::Order& o) {
  std::printf("order %lld  %s\n", static_cast<long long>(o.id()), StatusName(o.status()).c_str());
  std::printf("  customer   %s\n", o.customer_id().c_str());
  std::printf("  amount     %s\n", Money(o.amount_cents(), o.currency()).c_str());
  for (const auto& item : o.items()) {
    std::printf("    %-20s x%-4lld %s\n", item.sku().c_str(),
                static_cast<long long>(item.quantity()),
                Money(item.unit_price_cents(), o.currency()).c_str());
  }
  std::printf("  payment    %s", o.payment_method().c_str());
  if (o.charge_id() != 0) std::printf("  charge %lld", static_cast<long long>(o.charge_id()));
  if (!o.decline_reason().empty()) std::printf("  declined: %s", o.decline_reason().c_str());
  std::printf("\n");
  if (o.has_shipping_address()) {
    const auto& a = o.shipping_address();
    std::printf("  ship to    %s, %s%s%s, %s %s, %s\n", a.name().c_str(), a.line1().c_str(),
                a.line2().empty() ? "" : ", ", a.line2().c_str(), a.postal_code().c_str(),
                a.city().c_str(), a.country().c_str());
  }
  if (!o.cancel_reason().empty()) std::printf("  cancelled  %s\n", o.cancel_reason().c_str());
  std::printf("  created    %s\n", TimeText(o.create_time()).c_str());
  std::printf("  updated    %s\n", TimeText(o.update_time()).c_str());
}

// create and cancel: the order plus what the client did to get it.
void PrintMutation(const v1::Order& order, const orders_client::CallInfo& info) {
  if (absl::GetFlag(FLAGS_json)) {
    std::string order_json = ToJson(order);
    common::JsonLine line;
    line.Str("idempotency_key", info.idempotency_key)
        .Bool("replayed", info.replayed)
        .Int("attempts", info.attempts);
    std::string head = line.Build();
    head.pop_back();  // reopen the object to append the order
    std::printf("%s,\"order\":%s}\n", head.c_str(), order_json.c_str());
    return;
  }
  PrintOrder(order);
  std::printf("  key        %s%s (%d attempt%s)\n", info.idempotency_key.c_str(),
              info.replayed ? ", replayed" : "", info.attempts, info.attempts == 1 ? "" : "s");
}

}  // namespace orderctl
