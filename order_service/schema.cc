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
  };
  return *migrations;
}

}  // namespace orders
