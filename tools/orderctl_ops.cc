// orderctl: the bulk and operator commands (import, outbox, reconcile, health).
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

int Import(orders_client::OrdersClient& client) {
  const std::string path = absl::GetFlag(FLAGS_file);
  if (path.empty())
    return Usage("import needs --file (JSON lines of CreateOrderRequest, - for stdin)");
  FILE* in = path == "-" ? stdin : std::fopen(path.c_str(), "r");
  if (!in) return Usage(absl::StrCat("cannot read ", path));
  std::vector<v1::CreateOrderRequest> orders;
  std::string line;
  int number = 0;
  for (int c = 0; c != EOF;) {
    line.clear();
    while ((c = std::fgetc(in)) != EOF && c != '\n') line += static_cast<char>(c);
    ++number;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    v1::CreateOrderRequest request;
    google::protobuf::util::JsonParseOptions options;
    if (!google::protobuf::util::JsonStringToMessage(line, &request, options).ok()) {
      if (in != stdin) std::fclose(in);
      return Usage(absl::StrCat(path, ":", number, ": not a CreateOrderRequest in JSON"));
    }
    orders.push_back(std::move(request));
  }
  if (in != stdin) std::fclose(in);
  std::string import_id = absl::GetFlag(FLAGS_import_id);
  if (import_id.empty()) import_id = orders_client::NewIdempotencyKey();
  orders_client::CallInfo info;
  auto summary =
      client.ImportOrders(import_id, orders, absl::GetFlag(FLAGS_chunk_size), {.info = &info});
  if (!summary.ok()) {
    if (common::IsMessageTooLarge(summary.status())) {
      // Resuming would send the same chunk again; other sizes rename every chunk's contents,
      // which the chunks already stored under this id refuse (IMPORT_CHUNK_REUSED).
      std::fprintf(stderr,
                   "orderctl: import %s: a chunk is larger than the server accepts: import again "
                   "with a smaller --chunk_size under a new --import_id\n",
                   import_id.c_str());
    } else {
      std::fprintf(stderr, "orderctl: import %s: rerun with --import_id=%s to resume safely\n",
                   import_id.c_str(), import_id.c_str());
    }
    return Fail(summary.status(), &info);
  }
  if (absl::GetFlag(FLAGS_json)) {
    std::printf("%s\n", ToJson(*summary).c_str());
    return 0;
  }
  std::printf("import %s: %d orders in %d chunks, ids %lld..%lld, %s\n",
              summary->import_id().c_str(), summary->order_count(), summary->chunk_count(),
              static_cast<long long>(summary->first_order_id()),
              static_cast<long long>(summary->last_order_id()), Totals(summary->totals()).c_str());
  return 0;
}

int Outbox(orders_client::OrdersClient& client, const std::vector<char*>& args) {
  // `orderctl reconcile` is `orderctl outbox reconcile`.
  const std::string sub = std::string(args[1]) == "reconcile" ? "reconcile"
                          : args.size() > 2                   ? args[2]
                                                              : "";
  const bool json = absl::GetFlag(FLAGS_json);
  if (sub == "list") {
    v1::ListOutboxEventsRequest request;
    v1::OutboxEventStatus status = v1::OUTBOX_EVENT_STATUS_UNSPECIFIED;
    if (!ParseEnum<v1::OutboxEventStatus>(absl::GetFlag(FLAGS_status), "OUTBOX_EVENT_STATUS_",
                                          &v1::OutboxEventStatus_Parse, &status)) {
      return Usage("--status must be PENDING, DONE or DEAD");
    }
    request.set_status(status);
    request.set_min_age_seconds(absl::ToInt64Seconds(absl::GetFlag(FLAGS_min_age)));
    request.set_page_size(absl::GetFlag(FLAGS_page_size));
    request.set_page_token(absl::GetFlag(FLAGS_page_token));
    auto page = client.ListOutboxEvents(request);
    if (!page.ok()) return Fail(page.status());
    if (json) {
      std::printf("%s\n", ToJson(*page).c_str());
      return 0;
    }
    std::printf("%-10s %-10s %-8s %-8s %-8s %s\n", "EVENT", "ORDER", "KIND", "STATUS", "ATTEMPTS",
                "LAST ERROR");
    for (const auto& e : page->events()) {
      const std::string name = v1::OutboxEventStatus_Name(e.status());
      absl::string_view st = name;
      absl::ConsumePrefix(&st, "OUTBOX_EVENT_STATUS_");
      std::printf("%-10lld %-10lld %-8s %-8s %-8d %s\n", static_cast<long long>(e.id()),
                  static_cast<long long>(e.order_id()), e.kind().c_str(), std::string(st).c_str(),
                  e.attempts(), e.last_error().c_str());
    }
    if (!page->next_page_token().empty()) {
      std::printf("more: --page_token=%s\n", page->next_page_token().c_str());
    }
    return 0;
  }
  if (sub == "requeue") {
    v1::RequeueOutboxEventsRequest request;
    for (size_t i = 3; i < args.size(); ++i) {
      int64_t id = 0;
      if (!absl::SimpleAtoi(args[i], &id)) return Usage(absl::StrCat("not an event id: ", args[i]));
      request.add_ids(id);
    }
    auto requeued = client.RequeueOutboxEvents(request);
    if (!requeued.ok()) return Fail(requeued.status());
    if (json) {
      std::printf("{\"requeued\":%lld}\n", static_cast<long long>(*requeued));
    } else {
      std::printf("requeued %lld event%s\n", static_cast<long long>(*requeued),
                  *requeued == 1 ? "" : "s");
    }
    return 0;
  }
  if (sub == "stats") {
    auto stats = client.GetOutboxStats();
    if (!stats.ok()) return Fail(stats.status());
    if (json) {
      std::printf("%s\n", ToJson(*stats).c_str());
      return 0;
    }
    const auto& s = *stats;
    std::printf("pending            %lld (oldest %.1f s)\n", static_cast<long long>(s.pending()),
                s.oldest_pending_age_seconds());
    std::printf("dead               %lld\n", static_cast<long long>(s.dead()));
    std::printf("open attempts      %lld\n", static_cast<long long>(s.open_attempts()));
    std::printf(
        "relay (this proc)  claimed %lld, completed %lld, rescheduled %lld, buried %lld, "
        "lease lost %lld\n",
        static_cast<long long>(s.relay_claimed()), static_cast<long long>(s.relay_completed()),
        static_cast<long long>(s.relay_rescheduled()), static_cast<long long>(s.relay_buried()),
        static_cast<long long>(s.relay_lease_lost()));
    std::printf("commit -> sent     p50 %.1f ms, p99 %.1f ms, max %.1f ms over %lld events\n",
                s.commit_to_sent_p50_ms(), s.commit_to_sent_p99_ms(), s.commit_to_sent_max_ms(),
                static_cast<long long>(s.commit_to_sent_count()));
    return 0;
  }
  if (sub == "reconcile") {
    auto report = client.Reconcile(absl::GetFlag(FLAGS_repair));
    if (!report.ok()) return Fail(report.status());
    if (json) {
      std::printf("%s\n", ToJson(*report).c_str());
    } else {
      const auto& r = *report;
      std::printf(
          "checked %lld orders, %lld charges (%lld in flight, %lld of other deployments)\n",
          static_cast<long long>(r.orders_checked()), static_cast<long long>(r.charges_checked()),
          static_cast<long long>(r.in_flight()), static_cast<long long>(r.foreign_charges()));
      std::printf(
          "order not paid, charge succeeded  %lld\n"
          "cancelled order holds money       %lld\n"
          "charge without order              %lld\n"
          "amount or currency mismatch       %lld\n"
          "paid order without charge         %lld\n"
          "repaired                          %lld\n",
          static_cast<long long>(r.order_not_paid_charge_succeeded()),
          static_cast<long long>(r.cancelled_order_holds_money()),
          static_cast<long long>(r.charge_without_order()),
          static_cast<long long>(r.amount_or_currency_mismatch()),
          static_cast<long long>(r.paid_order_without_charge()),
          static_cast<long long>(r.repaired()));
      for (const auto& m : r.mismatches()) {
        std::printf("  %s order=%lld %s%s\n", m.kind().c_str(),
                    static_cast<long long>(m.order_id()), m.detail().c_str(),
                    m.repaired() ? " (repaired)" : "");
      }
    }
    const int64_t open = report->order_not_paid_charge_succeeded() +
                         report->cancelled_order_holds_money() + report->charge_without_order() +
                         report->amount_or_currency_mismatch() +
                         report->paid_order_without_charge() - report->repaired();
    return open > 0 ? 1 : 0;  // scripts can alert on a non-zero exit
  }
  return Usage("outbox needs list, requeue, stats or reconcile");
}

// The health name: none for readiness, or `liveness`.
int Health(orders_client::OrdersClient& client, const std::vector<char*>& args) {
  if (args.size() > 3) return Usage("health takes at most one name (liveness)");
  absl::Status s = client.CheckHealth(args.size() == 3 ? args[2] : "");
  if (!s.ok()) return Fail(s);
  std::printf(absl::GetFlag(FLAGS_json) ? "{\"status\":\"SERVING\"}\n" : "SERVING\n");
  return 0;
}

}  // namespace orderctl
