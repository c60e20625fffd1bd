-- The bar of issue 7 (create_vs_pgbench), fixed on purpose: one CreateOrder as one plain
-- transaction, the statements order_service ran until 7250f21 (the key claim, the order insert
-- and the response store): BEGIN, claim the key, insert order + items + outbox event + order
-- event in one CTE, store the response, COMMIT; five round trips. It is a yardstick, not a copy
-- of today's code: bench/run.sh measures CreateOrder's own statement (sql::kCreateOrder, printed
-- by print_sql) beside it.
-- Run with `pgbench -M prepared -D run=<unique>`, so values travel as parameters of prepared
-- statements, as they do in order_service. Keys are unique per transaction (the run, the client
-- id and a 40-bit random). Items: 3, as loadgen sends; the stored response is 111 bytes, the size
-- of a serialized CreateOrderResponse with 3 items.
-- No colon-names in comments or literals: pgbench takes them for variables.
\set r random(1, 1099511627775)
\set cust random(0, 996)
BEGIN;
INSERT INTO idempotency_keys (tenant, method, key, fingerprint)
SELECT 'default'::text, 'orders.v1.OrderService/CreateOrder'::text,
       'pgb-' || :run::text || '-' || :client_id::text || '-' || :r::text,
       sha256(('pgb-' || :run::text || '-' || :client_id::text || '-' || :r::text)::bytea)
FROM (SELECT set_config('lock_timeout', '4950ms', true)) AS cfg
ON CONFLICT DO NOTHING
RETURNING 1;
WITH o AS (
  INSERT INTO orders (tenant, customer_id, currency, amount_cents, payment_method, status)
  VALUES ('default', 'cust-' || :cust::text, 'USD', 2250, 'pm_card_visa', 1)
  RETURNING id, created_at),
i AS (
  INSERT INTO order_items (order_id, line, sku, quantity, unit_price_cents)
  SELECT o.id, t.line, t.sku, t.quantity, t.price
  FROM o, unnest('{sku-1,sku-2,sku-3}'::text[], '{1,2,3}'::bigint[], '{100,250,500}'::bigint[])
          WITH ORDINALITY AS t(sku, quantity, price, line)),
e AS (
  INSERT INTO outbox_events (aggregate_id, kind, payment_key, payload)
  -- E'\x3a' is a colon: pgbench reads colon-name as a variable, even inside a literal.
  SELECT o.id, 'CHARGE', E'charge\x3aorder\x3a' || o.id,
         json_build_object('order_id', o.id, 'amount_cents', 2250::bigint, 'currency', 'USD'::text,
                           'payment_method', 'pm_card_visa'::text,
                           'customer_id', ('cust-' || :cust::text)::text)::text
  FROM o),
ev AS (
  INSERT INTO order_events (tenant, customer_id, order_id, kind, amount_cents)
  SELECT 'default', 'cust-' || :cust::text, o.id, 'ORDER_CREATED', 2250 FROM o)
SELECT id AS order_id, (extract(epoch FROM created_at) * 1000000)::bigint AS created_us FROM o \gset
UPDATE idempotency_keys SET response = decode(repeat('5a', 111), 'hex'), order_id = :order_id::bigint
WHERE tenant = 'default' AND method = 'orders.v1.OrderService/CreateOrder'
  AND key = 'pgb-' || :run::text || '-' || :client_id::text || '-' || :r::text;
COMMIT;
