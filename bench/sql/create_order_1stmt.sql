-- CreateOrder's one statement for one order (kCreateOrder in order_service/pg_order_repository.cc,
-- which takes arrays so that group commit can write many orders with it): its own transaction,
-- one round trip:
-- the key record (with the response, built before the statement) and the order, its items, its
-- CHARGE outbox event and its ORDER_CREATED event. order_service reserves order ids in blocks
-- beforehand; here nextval() runs inside the statement. Response 111 bytes, 3 items, as in
-- create_order.sql. Run with `pgbench -M prepared -D run=<unique>`.
-- No colon-names in comments or literals: pgbench takes them for variables.
\set r random(1, 1099511627775)
\set cust random(0, 996)
WITH k AS (
  INSERT INTO idempotency_keys (tenant, method, key, fingerprint, response, order_id)
  SELECT 'default'::text, 'orders.v1.OrderService/CreateOrder'::text,
         'pgb-' || :run::text || '-' || :client_id::text || '-' || :r::text,
         sha256(('pgb-' || :run::text || '-' || :client_id::text || '-' || :r::text)::bytea),
         decode(repeat('5a', 111), 'hex'), nextval('orders_id_seq')
  FROM (SELECT set_config('lock_timeout', '4950ms', true)) AS cfg
  ON CONFLICT DO NOTHING
  RETURNING order_id),
o AS (
  INSERT INTO orders (id, tenant, customer_id, currency, amount_cents, payment_method, status,
                      created_at, updated_at)
  SELECT order_id, 'default', 'cust-' || :cust::text, 'USD', 2250, 'pm_card_visa', 1, now(), now()
  FROM k
  RETURNING id),
i AS (
  INSERT INTO order_items (order_id, line, sku, quantity, unit_price_cents)
  SELECT o.id, t.line, t.sku, t.quantity, t.price
  FROM o, unnest('{sku-1,sku-2,sku-3}'::text[], '{1,2,3}'::bigint[], '{100,250,500}'::bigint[])
          WITH ORDINALITY AS t(sku, quantity, price, line)),
e AS (
  INSERT INTO outbox_events (aggregate_id, kind, payment_key, payload)
  SELECT o.id, 'CHARGE', E'charge\x3aorder\x3a' || o.id,
         json_build_object('order_id', o.id, 'amount_cents', 2250::bigint, 'currency', 'USD'::text,
                           'payment_method', 'pm_card_visa'::text,
                           'customer_id', ('cust-' || :cust::text)::text)::text
  FROM o),
ev AS (
  INSERT INTO order_events (tenant, customer_id, order_id, kind, amount_cents)
  SELECT 'default', 'cust-' || :cust::text, o.id, 'ORDER_CREATED', 2250 FROM o)
SELECT count(*) FROM k;
