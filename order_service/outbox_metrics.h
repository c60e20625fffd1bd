// Outbox and relay figures as Prometheus series, read at scrape time (one COUNT query on the
// outbox per scrape; the relay's counters are in memory). Wired in main.cc.
//   orders_outbox_pending, orders_outbox_dead, orders_outbox_oldest_pending_age_seconds,
//   orders_outbox_open_attempts, orders_outbox_counts_ok (0 when the count query failed),
//   orders_relay_{claimed,completed,rescheduled,buried,lease_lost,pushbacks,yields,paced}_total,
//   orders_relay_claim_limit (events a worker claims at once; AIMD on payments' pushback),
//   orders_outbox_commit_to_sent_seconds{quantile="0.5|0.9|0.99|1"}, _count
#pragma once

#include "absl/strings/str_cat.h"
#include "common/metrics.h"
#include "order_service/outbox_relay.h"
#include "order_service/outbox_store.h"
#include "order_service/reconciler.h"

namespace orders {

// `relay` is null when this process runs no relay (--role=api). Both must outlive `metrics`.
inline void AddOutboxMetrics(common::Metrics& metrics, OutboxStore& store,
                             const OutboxRelay* relay) {
  metrics.AddCollector([&store, relay](common::MetricsWriter& w) {
    absl::StatusOr<OutboxCounts> counts = store.Counts();
    w.Gauge("orders_outbox_counts_ok", "1 when the outbox figures below could be read.",
            counts.ok() ? 1 : 0);
    if (counts.ok()) {
      w.Gauge("orders_outbox_pending", "Outbox events waiting to be sent (PENDING).",
              static_cast<double>(counts->pending));
      w.Gauge("orders_outbox_dead", "Outbox events given up on (DEAD); re-queue with orderctl.",
              static_cast<double>(counts->dead));
      w.Gauge("orders_outbox_oldest_pending_age_seconds",
              "Age of the oldest PENDING event (0 when none).",
              absl::ToDoubleSeconds(counts->oldest_pending_age));
      w.Gauge("orders_outbox_open_attempts", "Attempts made on events not yet DONE.",
              static_cast<double>(counts->open_attempts));
    }
    if (relay == nullptr) return;
    const RelayStats s = relay->Stats();
    w.Counter("orders_relay_claimed_total", "Events claimed by this process's relay.",
              static_cast<double>(s.claimed));
    w.Counter("orders_relay_completed_total", "Events finished DONE by this relay.",
              static_cast<double>(s.completed));
    w.Counter("orders_relay_rescheduled_total",
              "Attempts that failed transiently and were retried.",
              static_cast<double>(s.rescheduled));
    w.Counter("orders_relay_buried_total", "Events made DEAD by this relay.",
              static_cast<double>(s.buried));
    w.Counter("orders_relay_key_conflicts_total",
              "Events made DEAD because payments holds their derived key for another request "
              "(two deployments with one identity): an alarm.",
              static_cast<double>(s.key_conflicts));
    w.Counter("orders_relay_asked_payments_total",
              "Events given up on (poison, or past the retry window) whose outcome was asked of "
              "payments before they were completed, buried or kept.",
              static_cast<double>(s.asked_payments));
    w.Counter("orders_relay_lease_lost_total",
              "Finishes refused because the lease had passed to another relay.",
              static_cast<double>(s.lease_lost));
    w.Counter("orders_relay_pushbacks_total",
              "Batches after which payments asked the relay to wait (its admission control).",
              static_cast<double>(s.pushbacks));
    w.Counter("orders_relay_yields_total",
              "Claims made while this process's API was shedding callers (each halved the batch "
              "and was followed by a pause).",
              static_cast<double>(s.yields));
    w.Counter("orders_relay_paced_total",
              "Claims made smaller or put off to keep pace with this process's busy API.",
              static_cast<double>(s.paced));
    w.Gauge("orders_relay_claim_limit",
            "Events a relay worker claims at once now (AIMD: halved by a pushback).",
            s.claim_limit);
    const common::LatencyHistogram& h = relay->commit_to_sent();
    constexpr char kHelp[] =
        "Order commit to payment outcome recorded, for events this relay completed.";
    for (double q : {0.5, 0.9, 0.99}) {
      w.Gauge("orders_outbox_commit_to_sent_seconds", kHelp, absl::ToDoubleSeconds(h.Percentile(q)),
              {{"quantile", absl::StrCat(q)}});
    }
    w.Gauge("orders_outbox_commit_to_sent_seconds", kHelp, absl::ToDoubleSeconds(h.max()),
            {{"quantile", "1"}});
    w.Counter("orders_outbox_commit_to_sent_count", "Events measured for commit-to-sent.",
              static_cast<double>(h.count()));
  });
}

// The last reconciliation pass (OutboxAdmin.Reconcile or the periodic job): mismatches per kind,
// all of which should read 0. `reconciler` must outlive `metrics`.
//   orders_reconcile_mismatches{kind}, orders_reconcile_repaired, orders_reconcile_in_flight,
//   orders_reconcile_ran (0 before the first pass), orders_reconcile_failed_runs_total
inline void AddReconcileMetrics(common::Metrics& metrics, const Reconciler& reconciler) {
  metrics.AddCollector([&reconciler](common::MetricsWriter& w) {
    const std::optional<orders::v1::ReconcileReport> r = reconciler.last();
    w.Gauge("orders_reconcile_ran", "1 once a reconciliation pass has completed.", r ? 1 : 0);
    w.Counter("orders_reconcile_failed_runs_total", "Periodic passes that could not complete.",
              static_cast<double>(reconciler.failed_runs()));
    if (!r) return;
    constexpr char kHelp[] = "Orders and ledger disagreeing, per kind, in the last pass (0).";
    const std::pair<const char*, int64_t> kinds[] = {
        {"ORDER_NOT_PAID_CHARGE_SUCCEEDED", r->order_not_paid_charge_succeeded()},
        {"CANCELLED_ORDER_HOLDS_MONEY", r->cancelled_order_holds_money()},
        {"CHARGE_WITHOUT_ORDER", r->charge_without_order()},
        {"AMOUNT_OR_CURRENCY_MISMATCH", r->amount_or_currency_mismatch()},
        {"PAID_ORDER_WITHOUT_CHARGE", r->paid_order_without_charge()}};
    for (const auto& [kind, n] : kinds) {
      w.Gauge("orders_reconcile_mismatches", kHelp, static_cast<double>(n), {{"kind", kind}});
    }
    w.Gauge("orders_reconcile_repaired", "Mismatches the last pass repaired.",
            static_cast<double>(r->repaired()));
    w.Gauge("orders_reconcile_in_flight", "Orders the last pass skipped: an event still PENDING.",
            static_cast<double>(r->in_flight()));
  });
}

}  // namespace orders
