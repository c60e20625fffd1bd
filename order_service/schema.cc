#include "order_service/schema.h"

namespace orders {

const std::vector<pg::Migration>& OrderMigrations() {
  static const auto* migrations = new std::vector<pg::Migration>{
      {1, R"sql(
CREATE TABLE orders (
  id             bigserial PRIMARY KEY,  -- never reused, so cancel-by-id stays idempotent
  tenant         text NOT NULL,
  customer_id    text NOT NULL,
  currency       text NOT NULL,
  amount_cents   bigint NOT NULL CHECK (amount_cents > 0),
  payment_method text NOT NULL,
  status         smallint NOT NULL,      -- orders.v1.OrderStatus
  charge_id      bigint NOT NULL DEFAULT 0,
  decline_reason text NOT NULL DEFAULT '',
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_by_tenant ON orders (tenant, id DESC);
CREATE INDEX orders_by_customer ON orders (tenant, customer_id, id DESC);

CREATE TABLE order_items (
  order_id         bigint NOT NULL REFERENCES orders (id),
  line             int NOT NULL,
  sku              text NOT NULL,
  quantity         bigint NOT NULL CHECK (quantity > 0),
  unit_price_cents bigint NOT NULL CHECK (unit_price_cents >= 0),
  PRIMARY KEY (order_id, line)
);

-- One row per (tenant, method, key): the unique key is also the lock a concurrent retry waits on.
CREATE TABLE idempotency_keys (
  tenant      text NOT NULL,
  method      text NOT NULL,
  key         text NOT NULL,
  fingerprint bytea NOT NULL,
  response    bytea NOT NULL DEFAULT '',  -- the serialized first answer, replayed verbatim
  order_id    bigint,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, method, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);

CREATE TABLE outbox_events (
  id           bigserial PRIMARY KEY,
  aggregate_id bigint NOT NULL,          -- the order; its events run one at a time, in id order
  kind         text NOT NULL,            -- CHARGE, REFUND
  payment_key  text NOT NULL,            -- derived from the event, stable across retries
  payload      text NOT NULL,            -- JSON of the payment request
  status       text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'DONE', 'DEAD')),
  attempts     int NOT NULL DEFAULT 0,   -- counted at claim time
  lease_owner  text,
  lease_until  timestamptz,
  available_at timestamptz NOT NULL DEFAULT now(),
  last_error   text NOT NULL DEFAULT '',
  created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  done_at      timestamptz
);
CREATE INDEX outbox_pending ON outbox_events (id) WHERE status = 'PENDING';
CREATE INDEX outbox_open_by_aggregate ON outbox_events (aggregate_id, id) WHERE status <> 'DONE';
)sql"},
      {2, R"sql(
ALTER TABLE orders ADD COLUMN shipping_address bytea NOT NULL DEFAULT '';  -- orders.v1.ShippingAddress
ALTER TABLE orders ADD COLUMN cancel_reason text NOT NULL DEFAULT '';
)sql"},
      {3, R"sql(
-- Order events for eventually consistent projections, written in the transaction that changes
-- the order; `projected` is the delivery mark, analytics_inbox the once-only guard.
CREATE TABLE order_events (
  id           bigserial PRIMARY KEY,
  tenant       text NOT NULL,
  customer_id  text NOT NULL,
  order_id     bigint NOT NULL,
  kind         text NOT NULL,  -- ORDER_CREATED, ORDER_PAID, ORDER_PAYMENT_FAILED, ORDER_CANCELLED
  amount_cents bigint NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  projected    boolean NOT NULL DEFAULT false
);
CREATE INDEX order_events_unprojected ON order_events (id) WHERE NOT projected;

CREATE TABLE analytics_inbox (
  event_id   bigint PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE customer_analytics (
  tenant               text NOT NULL,
  customer_id          text NOT NULL,
  order_count          bigint NOT NULL DEFAULT 0,
  paid_count           bigint NOT NULL DEFAULT 0,
  payment_failed_count bigint NOT NULL DEFAULT 0,
  cancelled_count      bigint NOT NULL DEFAULT 0,
  paid_cents           bigint NOT NULL DEFAULT 0,
  cancelled_cents      bigint NOT NULL DEFAULT 0,
  events_applied       bigint NOT NULL DEFAULT 0,
  as_of                timestamptz,
  PRIMARY KEY (tenant, customer_id)
);

-- Bulk imports as named chunks (seed 003, pattern 4).
CREATE TABLE import_chunks (
  tenant      text NOT NULL,
  import_id   text NOT NULL,
  chunk_index int NOT NULL,
  fingerprint bytea NOT NULL,
  request     bytea NOT NULL,  -- orders.v1.PutImportChunkRequest
  response    bytea NOT NULL,  -- orders.v1.ImportChunk
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, import_id, chunk_index)
);

CREATE TABLE import_commits (
  tenant      text NOT NULL,
  import_id   text NOT NULL,
  chunk_count int NOT NULL,
  summary     bytea NOT NULL DEFAULT '',  -- orders.v1.ImportSummary
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, import_id)
);
)sql"},
      {4, R"sql(
-- The deployment identity: made once per orders database and part of every payment key derived
-- from an event, so two deployments charging through one payment account (staging and
-- production, or a copy restored from a backup) never replay each other's charges. A copy that
-- goes on living beside its original must get a new one (deploy/OPERATIONS.md, "Restoring").
CREATE TABLE deployment_identity (
  singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  id         text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO deployment_identity (id) VALUES (replace(gen_random_uuid()::text, '-', ''));

-- The one rule for payment keys: "<kind>:<deployment>:order:<id>", e.g.
-- charge:3f2a...:order:42. Used by every statement that writes an event.
CREATE FUNCTION payment_key(kind text, order_id bigint) RETURNS text
  LANGUAGE sql STABLE
  AS $$ SELECT kind || ':' || (SELECT id FROM deployment_identity) || ':order:' || order_id $$;

-- Each order keeps the key its charge is sent under, for its refund and for reconciliation, for
-- as long as the order exists (its DONE events are reaped). Orders from before this migration
-- keep the key their event was sent with ("charge:order:<id>" then).
ALTER TABLE orders ADD COLUMN charge_key text;
UPDATE orders o SET charge_key = coalesce(
  (SELECT e.payment_key FROM outbox_events e
   WHERE e.aggregate_id = o.id AND e.kind = 'CHARGE' ORDER BY e.id LIMIT 1),
  'charge:order:' || o.id);
ALTER TABLE orders ALTER COLUMN charge_key SET NOT NULL;
CREATE FUNCTION orders_set_charge_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.charge_key IS NULL THEN NEW.charge_key := payment_key('charge', NEW.id); END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER orders_charge_key BEFORE INSERT ON orders
  FOR EACH ROW EXECUTE FUNCTION orders_set_charge_key();

-- Answers that said "try again" (payments down, a deadline) are not a poison event's attempts:
-- the attempt budget counts claims that ended any other way (a crash, a lost lease).
ALTER TABLE outbox_events ADD COLUMN transient_failures int NOT NULL DEFAULT 0;
-- The retry window runs from here: the event's first attempt, or its last requeue.
ALTER TABLE outbox_events ADD COLUMN window_start timestamptz NOT NULL DEFAULT clock_timestamp();
UPDATE outbox_events SET window_start = created_at;
)sql"},
      {5, R"sql(
-- Order ids are taken in blocks of consecutive ids, all through this function: it holds one lock
-- across nextval and setval, so no other block can begin inside one being taken. An import's
-- orders are one block (ImportSummary's first_order_id..last_order_id are its orders and no
-- other); CreateOrder takes blocks of 32 per process. The lock is a session lock released before
-- returning, not a transaction lock: an import's commit calls this inside its long transaction
-- and must not stall every CreateOrder until it ends. Returns the first id of the block.
CREATE FUNCTION reserve_order_ids(n bigint) RETURNS bigint
  LANGUAGE plpgsql
  AS $$
DECLARE
  first_id bigint;
BEGIN
  PERFORM pg_advisory_lock(1869177971, 0);
  BEGIN
    first_id := nextval('orders_id_seq');
    IF n > 1 THEN
      PERFORM setval('orders_id_seq', first_id + n - 1);
    END IF;
  EXCEPTION WHEN OTHERS OR query_canceled THEN
    -- A session lock outlives the statement: never leave it held on a pooled connection.
    PERFORM pg_advisory_unlock(1869177971, 0);
    RAISE;
  END;
  PERFORM pg_advisory_unlock(1869177971, 0);
  RETURN first_id;
END $$;
)sql"},
      {6, R"sql(
-- Money per currency. Amounts of different currencies were added into one number (a customer
-- with JPY 500 and USD 1250 paid "1750" of nothing). customer_analytics keeps the counts, which
-- have no unit; the money moves to one row per (customer, currency), in the currency's minor
-- units (ISO 4217: cents for USD, yen for JPY). Paid stays gross, as it was: a later
-- cancellation or refund subtracts nothing.
CREATE TABLE customer_analytics_money (
  tenant           text NOT NULL,
  customer_id      text NOT NULL,
  currency         text NOT NULL,              -- ISO 4217: the currency of the orders counted
  paid_amount      bigint NOT NULL DEFAULT 0,  -- minor units, of the ORDER_PAID events applied
  cancelled_amount bigint NOT NULL DEFAULT 0,  -- minor units, of the ORDER_CANCELLED events applied
  PRIMARY KEY (tenant, customer_id, currency)
);

-- Existing amounts. A customer whose orders all have one currency keeps them as they were, now
-- labelled with that currency: they were right, only without a unit.
INSERT INTO customer_analytics_money (tenant, customer_id, currency, paid_amount, cancelled_amount)
SELECT a.tenant, a.customer_id, c.currency, a.paid_cents, a.cancelled_cents
FROM customer_analytics a
JOIN (SELECT tenant, customer_id, min(currency) AS currency FROM orders
      GROUP BY tenant, customer_id HAVING count(DISTINCT currency) = 1) c
  ON c.tenant = a.tenant AND c.customer_id = a.customer_id
WHERE a.paid_cents <> 0 OR a.cancelled_cents <> 0;

-- A customer with several currencies has a sum of different units, which cannot be split, so
-- its amounts are counted again. Each event is written with the order change it reports, so the
-- orders' states tell the events written (paid: PAID now, or cancelled after a successful
-- charge, i.e. with a charge id and no decline; cancelled: CANCELLED), and the events not yet
-- projected are taken off: the projector adds those when it gets to them. (Orders settled
-- before order_events existed, migration 3, are counted too; the old sum had missed them.)
WITH mixed AS (
  SELECT tenant, customer_id FROM orders
  GROUP BY tenant, customer_id HAVING count(DISTINCT currency) > 1),
written AS (
  SELECT o.tenant, o.customer_id, o.currency,
         coalesce(sum(o.amount_cents) FILTER (
           WHERE o.status = 2 OR (o.status = 4 AND o.charge_id <> 0 AND o.decline_reason = '')),
           0) AS paid,
         coalesce(sum(o.amount_cents) FILTER (WHERE o.status = 4), 0) AS cancelled
  FROM orders o JOIN mixed m ON m.tenant = o.tenant AND m.customer_id = o.customer_id
  GROUP BY o.tenant, o.customer_id, o.currency),
pending AS (
  SELECT e.tenant, e.customer_id, o.currency,
         coalesce(sum(e.amount_cents) FILTER (WHERE e.kind = 'ORDER_PAID'), 0) AS paid,
         coalesce(sum(e.amount_cents) FILTER (WHERE e.kind = 'ORDER_CANCELLED'), 0) AS cancelled
  FROM order_events e JOIN orders o ON o.id = e.order_id
  WHERE NOT e.projected
  GROUP BY e.tenant, e.customer_id, o.currency),
applied AS (
  SELECT w.tenant, w.customer_id, w.currency,
         w.paid - coalesce(p.paid, 0) AS paid, w.cancelled - coalesce(p.cancelled, 0) AS cancelled
  FROM written w
  JOIN customer_analytics a ON a.tenant = w.tenant AND a.customer_id = w.customer_id
  LEFT JOIN pending p
    ON p.tenant = w.tenant AND p.customer_id = w.customer_id AND p.currency = w.currency)
INSERT INTO customer_analytics_money (tenant, customer_id, currency, paid_amount, cancelled_amount)
SELECT tenant, customer_id, currency, paid, cancelled FROM applied
WHERE paid <> 0 OR cancelled <> 0;

-- The old columns go: a process of the previous version still running would otherwise go on
-- adding mixed sums there, marking events projected without their money counted per currency.
-- Without the columns its statement fails and the events wait for a current projector.
ALTER TABLE customer_analytics DROP COLUMN paid_cents, DROP COLUMN cancelled_cents;
)sql"},
  };
  return *migrations;
}

}  // namespace orders
