-- Not what order_service runs today: what group commit would run. Eight CreateOrders in one
-- transaction, each statement multi-row (unnest / generate_series), the same rows per order as
-- create_order.sql: 8 keys claimed, 8 orders + 24 items + 8 outbox events + 8 order events
-- inserted, 8 responses stored, one COMMIT. pgbench's tps x 8 = orders per second: the ceiling a
-- batching CreateOrder could approach on this machine. Run with -M prepared -D run=<unique>.
\set r random(1, 1099511627775)
BEGIN;
INSERT INTO idempotency_keys (tenant, method, key, fingerprint)
SELECT 'default'::text, 'orders.v1.OrderService/CreateOrder'::text, k, sha256(k::bytea)
FROM (SELECT set_config('lock_timeout', '4950ms', true)) AS cfg,
     (SELECT 'pgb-' || :run::text || '-' || :client_id::text || '-' || :r::text || '-' || n AS k
      FROM generate_series(1, 8) AS n) AS keys
ON CONFLICT DO NOTHING
RETURNING key;
WITH input AS (
  SELECT nextval('orders_id_seq') AS id, n, 'cust-' || ((:r::bigint + n) % 997) AS customer_id
  FROM generate_series(1, 8) AS n),
o AS (
  INSERT INTO orders (id, tenant, customer_id, currency, amount_cents, payment_method, status)
  SELECT id, 'default', customer_id, 'USD', 2250, 'pm_card_visa', 1 FROM input
  RETURNING id, created_at),
i AS (
  INSERT INTO order_items (order_id, line, sku, quantity, unit_price_cents)
  SELECT input.id, t.line, t.sku, t.quantity, t.price
  FROM input, unnest('{sku-1,sku-2,sku-3}'::text[], '{1,2,3}'::bigint[], '{100,250,500}'::bigint[])
          WITH ORDINALITY AS t(sku, quantity, price, line)),
e AS (
  INSERT INTO outbox_events (aggregate_id, kind, payment_key, payload)
  SELECT id, 'CHARGE', E'charge\x3aorder\x3a' || id,
         json_build_object('order_id', id, 'amount_cents', 2250::bigint, 'currency', 'USD'::text,
                           'payment_method', 'pm_card_visa'::text, 'customer_id', customer_id)::text
  FROM input),
ev AS (
  INSERT INTO order_events (tenant, customer_id, order_id, kind, amount_cents)
  SELECT 'default', customer_id, id, 'ORDER_CREATED', 2250 FROM input)
SELECT array_agg(input.id ORDER BY n) AS ids, max(o.created_at) AS created
FROM input JOIN o USING (id) \gset
-- key = ANY(array) keeps this an index probe per key: a join on a computed key lets the planner
-- scan every (tenant, method) row when its statistics are stale.
UPDATE idempotency_keys k SET response = decode(repeat('5a', 111), 'hex'), order_id = u.id
FROM (SELECT 'pgb-' || :run::text || '-' || :client_id::text || '-' || :r::text || '-' || n AS key, id
      FROM unnest(:ids::bigint[]) WITH ORDINALITY AS t(id, n)) AS u
WHERE k.tenant = 'default' AND k.method = 'orders.v1.OrderService/CreateOrder'
  AND k.key = ANY (ARRAY(SELECT 'pgb-' || :run::text || '-' || :client_id::text || '-' || :r::text || '-' || n
                         FROM generate_series(1, 8) AS n))
  AND k.key = u.key;
COMMIT;
