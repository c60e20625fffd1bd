// orderctl's parts: orderctl.cc (flags, usage, main), orderctl_print.cc (output),
// orderctl_orders.cc (the order commands), orderctl_ops.cc (import, outbox, reconcile, health).
// A command returns the process's exit status: 0 success, 1 the server said no (code and reason
// on stderr), 2 usage error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/time/time.h"
#include "client/orders_client.h"

// The flags, defined in orderctl.cc.
ABSL_DECLARE_FLAG(std::string, addr);
ABSL_DECLARE_FLAG(std::string, token);
ABSL_DECLARE_FLAG(std::string, admin_token);
ABSL_DECLARE_FLAG(bool, json);
ABSL_DECLARE_FLAG(absl::Duration, timeout);
ABSL_DECLARE_FLAG(absl::Duration, attempt_timeout);
ABSL_DECLARE_FLAG(std::string, lb);
ABSL_DECLARE_FLAG(std::string, service_config);
ABSL_DECLARE_FLAG(bool, tls);
ABSL_DECLARE_FLAG(std::string, tls_ca);
ABSL_DECLARE_FLAG(std::string, tls_cert);
ABSL_DECLARE_FLAG(std::string, tls_key);
ABSL_DECLARE_FLAG(std::string, tls_server_name);
ABSL_DECLARE_FLAG(std::string, customer);
ABSL_DECLARE_FLAG(std::vector<std::string>, items);
ABSL_DECLARE_FLAG(std::string, currency);
ABSL_DECLARE_FLAG(std::string, payment_method);
ABSL_DECLARE_FLAG(std::string, key);
ABSL_DECLARE_FLAG(std::string, status);
ABSL_DECLARE_FLAG(int, page_size);
ABSL_DECLARE_FLAG(std::string, page_token);
ABSL_DECLARE_FLAG(bool, all);
ABSL_DECLARE_FLAG(std::string, reason);
ABSL_DECLARE_FLAG(std::string, name);
ABSL_DECLARE_FLAG(std::string, line1);
ABSL_DECLARE_FLAG(std::string, line2);
ABSL_DECLARE_FLAG(std::string, city);
ABSL_DECLARE_FLAG(std::string, postal_code);
ABSL_DECLARE_FLAG(std::string, country);
ABSL_DECLARE_FLAG(std::string, file);
ABSL_DECLARE_FLAG(std::string, import_id);
ABSL_DECLARE_FLAG(int, chunk_size);
ABSL_DECLARE_FLAG(bool, repair);
ABSL_DECLARE_FLAG(absl::Duration, min_age);

namespace orderctl {

// Prints `problem` and the usage on stderr; returns 2.
int Usage(const std::string& problem);

// Output (orderctl_print.cc). Fail prints the error (code, reason, details; JSON with --json)
// and returns 1.
std::string ToJson(const google::protobuf::Message& message);
int Fail(const absl::Status& status, const orders_client::CallInfo* info = nullptr);
// Minor units as a decimal amount of `currency` (ISO 4217 exponent).
std::string Money(int64_t minor, const std::string& currency);
std::string Totals(const google::protobuf::RepeatedPtrField<orders::v1::MoneyTotal>& totals);
std::string StatusName(orders::v1::OrderStatus status);
std::string TimeText(const google::protobuf::Timestamp& t);
void PrintOrder(const orders::v1::Order& o);
void PrintMutation(const orders::v1::Order& order, const orders_client::CallInfo& info);

// `text` as an Enum value, with or without its `prefix` (any case); empty text leaves `out`.
template <typename Enum>
bool ParseEnum(const std::string& text, const std::string& prefix,
               bool (*parse)(const std::string&, Enum*), Enum* out) {
  if (text.empty()) return true;
  const std::string upper = absl::AsciiStrToUpper(text);
  return parse(upper, out) || parse(prefix + upper, out);
}

// The commands; `args` are the positional arguments, args[1] the command.
int Create(orders_client::OrdersClient& client);
int Get(orders_client::OrdersClient& client, const std::vector<char*>& args);
int List(orders_client::OrdersClient& client);
int Cancel(orders_client::OrdersClient& client, const std::vector<char*>& args);
int Address(orders_client::OrdersClient& client, const std::vector<char*>& args);
int Analytics(orders_client::OrdersClient& client, const std::vector<char*>& args);
int Import(orders_client::OrdersClient& client);
int Outbox(orders_client::OrdersClient& client, const std::vector<char*>& args);
int Health(orders_client::OrdersClient& client, const std::vector<char*>& args);

}  // namespace orderctl
