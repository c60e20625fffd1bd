#include "payment_service/pg_schema.h"

#include <vector>

#include "common/pg/migrate.h"

namespace payment_service {
namespace {

// charges is the ledger and the idempotency record of Charge at once: the unique
// (caller, charge_key) row is the lock concurrent requests with one key wait on.
// A row with a NULL fingerprint is a tombstone: a Refund arrived before any Charge with the key.
// PENDING only exists inside the transaction that decides the charge; it never commits.
constexpr char kV1[] = R"sql(
CREATE TABLE charges (
  id             bigserial PRIMARY KEY,
  caller         text NOT NULL,
  charge_key     text NOT NULL,
  fingerprint    bytea,
  order_id       bigint NOT NULL DEFAULT 0,
  amount_cents   bigint NOT NULL DEFAULT 0,
  currency       text NOT NULL DEFAULT '',
  payment_method text NOT NULL DEFAULT '',
  customer_id    text NOT NULL DEFAULT '',
  status         text NOT NULL
                 CHECK (status IN ('PENDING', 'SUCCEEDED', 'DECLINED', 'VOIDED', 'REFUNDED')),
  decline_reason text NOT NULL DEFAULT '',
  response       bytea,
  created_at     timestamptz NOT NULL DEFAULT now(),
  UNIQUE (caller, charge_key)
);
CREATE INDEX charges_by_order ON charges (caller, order_id, id);

-- At most one refund per charge: a second refund key gets the first refund back.
CREATE TABLE refunds (
  id           bigserial PRIMARY KEY,
  caller       text NOT NULL,
  charge_id    bigint NOT NULL UNIQUE REFERENCES charges (id),
  charge_key   text NOT NULL,
  amount_cents bigint NOT NULL,
  status       text NOT NULL
               CHECK (status IN ('SUCCEEDED', 'VOIDED_BEFORE_CHARGE', 'NOTHING_TO_REFUND')),
  reason       text NOT NULL DEFAULT '',
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_by_caller ON refunds (caller, status);

-- Idempotency records of Refund requests; the reaper deletes them after the retention period.
CREATE TABLE refund_requests (
  id          bigserial PRIMARY KEY,
  caller      text NOT NULL,
  refund_key  text NOT NULL,
  fingerprint bytea NOT NULL,
  response    bytea,
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (caller, refund_key)
);
CREATE INDEX refund_requests_by_age ON refund_requests (created_at, id);
)sql";

}  // namespace

absl::Status MigratePaymentSchema(pg::Connection& conn) {
  static const std::vector<pg::Migration> kMigrations = {{1, kV1}};
  return pg::Migrate(conn, "payment_service", kMigrations);
}

}  // namespace payment_service
