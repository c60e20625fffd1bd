#!/usr/bin/env bash
# Writes the seed corpus of each target into tests/fuzz/corpus/<target>/ (checked in): the
# request envelopes from their text form in tests/fuzz/seeds/<target>/*.txtpb (protoc --encode),
# and a few byte strings for the targets that read raw bytes (FuzzedDataProvider: strings from
# the front, "\\" ends one early; integers and booleans from the back). Regression inputs of
# findings are kept next to these in corpus/<target>/ under names starting with "finding-".
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
declare -A type=([fuzz_order_requests]=OrderServiceCall [fuzz_payment_requests]=PaymentServiceCall
  [fuzz_outbox_admin_requests]=OutboxAdminCall)
for target in "${!type[@]}"; do
  mkdir -p "$here/corpus/$target"
  for seed in "$here/seeds/$target"/*.txtpb; do
    protoc --encode="fuzz.${type[$target]}" -I "$here" -I "$root/proto" -I /usr/include \
      "$here/fuzz_input.proto" <"$seed" >"$here/corpus/$target/$(basename "$seed" .txtpb)"
  done
done

seed() {  # seed TARGET NAME BYTES (printf format)
  mkdir -p "$here/corpus/$1"
  printf -- "${@:3}" >"$here/corpus/$1/$2"
}
# page tokens: "query\\x" then the token, last byte even = decode mode, odd = tamper mode.
query='36:orders.v1.OrderService/ListOrders;7:default;5:carol;1:0;'
body="p1:$(printf '%s' "$query" | sha256sum | cut -c1-12):42"
token=$(printf '%s:%s' "$body" "$(printf '%s' "$body" | sha256sum | cut -c1-12)" | base64 -w0 |
  tr '+/' '-_' | tr -d '=')
seed fuzz_page_token issued "%s\\\\x%s\\x00" "$query" "$token"
seed fuzz_page_token garbage "%s\\\\x%s\\x00" "$query" "cDE6YWJjOjU6ZGVm"
seed fuzz_page_token tamper "%s\\\\x\\x05\\x00\\x07\\x2a\\x01\\x01" "$query"
seed fuzz_page_token empty "\\\\x\\x00"
# metadata: key values, authorization values, --tokens spec, --admin_tokens spec, token.
seed fuzz_metadata one_key "order-1\\\\xBearer tok-a\\\\xtok-a=tenant-a,tok-b=tenant-b\\\\xadm-1=ops\\\\xtok-a\\x01\\x01"
seed fuzz_metadata two_keys "k1\\\\xk2\\\\xbearer x\\\\x=bad,\\\\x\\\\xx\\x01\\x02"
seed fuzz_metadata comma "a,b\\\\x\\\\x a=b=c , \\\\x\\\\xa\\x00\\x01"
# storable text: a value, then probe fields.
seed fuzz_storable_text utf8 "caf\\xc3\\xa9 \\xf0\\x9f\\x98\\x80\\\\xlabel\\\\xv\\\\x\\x02\\x03\\x01\\x02"
seed fuzz_storable_text bad "\\xed\\xa0\\x80\\xc0\\xaf\\xf4\\x90\\x80\\x80\\\\xa\\x00b\\\\x\\x00\\x01"
seed fuzz_storable_text nul "x\\x00y\\\\x\\xff\\\\x\\x05\\x04\\x01\\x03"
# currency: code, amount (from the back).
seed fuzz_currency usd_eur "USD\\\\xEUR\\\\xUSD\\\\xusd\\\\x\\x10\\x27\\x00\\x00\\x00\\x00\\x00\\x00\\x01"
seed fuzz_currency jpy "JPY\\\\x\\x00\\x00\\xe8\\xd4\\xa5\\x10\\x00\\x00"
# config: port, probability, duration, latency, jitter, store, chaos methods.
seed fuzz_config ok "50051\\\\x0.25\\\\x30s\\\\x100\\\\x20\\\\xpostgres\\\\xCreateOrder,CancelOrder\\\\x\\x01\\x02\\x00"
seed fuzz_config bad "65536\\\\xnan\\\\x-1s\\\\x-5\\\\x2147483647\\\\xmysql\\\\x \\\\x\\x00"
seed fuzz_config inf "-1\\\\x1.0\\\\xinf\\\\x2147483647\\\\x0\\\\xmemory\\\\xGetOrder\\\\x\\x01"
seed fuzz_config big_latency "50051\\\\x0.5\\\\x1s\\\\x2147483647\\\\x1000\\\\xmemory\\\\xCreateOrder\\\\x\\x01\\x02\\x03\\x04"
