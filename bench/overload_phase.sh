# Sourced by bench/run.sh (uses its start/stop/psql_db/value/calc/log helpers): the overload phase.
#
# The case of issue 15, measured the way a new user would: a deploy/local/run.sh-style pair
# (payment_service, order_service --role=all, default flags) on a fresh database;
#   1. peak: CreateOrder, OVERLOAD_PEAK_CLIENTS (32) in flight, no deadline pressure (5 s);
#   2. storm: OVERLOAD_CLIENTS (400) callers, each call with a OVERLOAD_DEADLINE_MS (100 ms)
#      deadline, for OVERLOAD_SECONDS (10 s); a caller refused with pushback waits it out (as our
#      client library does; OVERLOAD_PUSHBACK=false: at once); meanwhile a GetOrder probe with a
#      250 ms deadline every 100 ms on a connection of its own;
#   3. recovery: the peak load again, right after, for 5 s.
# Then the same with payments slowed (payment_service --latency_ms=OVERLOAD_PAYMENT_LATENCY_MS,
# 200): the relay falls behind and must shed and recover without touching the API's figures.
#
# Figures (one name=value line each, prefix overload_ and overload_slow_payments_):
#   goodput_vs_peak    OK answers per second during the storm / the peak rate (all OKs arrive
#                      within their deadline: a late answer is DEADLINE_EXCEEDED at the caller)
#   rss_mib            order_service's peak RSS (VmHWM) over the whole phase
#   wasted_commits     orders committed during the storm for callers that got no OK
#                      (orders in the database - OK answers), and _ratio: / OK answers
#   probe_failures     probes not answered OK within 250 ms (of overload_probes)
#   recovery_vs_peak   the rate in the 5 s after the storm / the peak rate
#   recovery_per_second_vs_peak  the same for each whole second of those 5 s, and
#   recovery_s         the seconds after the storm until the first second at >= 0.9x the peak
#                      (none: not within the 5 s)
#   refusal_p99_ms     p99 latency of RESOURCE_EXHAUSTED answers (from send), and
#                      refusals_with_pushback / refusals; split by the call's send time into
#                      refusal_p99_first_1s_ms (the storm's onset: 400 callers send at once)
#                      and refusal_p99_after_1s_ms (the rest of the storm)
#   floor_refusal_p99_first_1s_ms / _after_1s_ms / _ms  the same storm against the refusal floor
#                      (bench/refusal_floor.cc: gRPC refusing every call, nothing of ours), run
#                      first; refusal_p99_first_1s_vs_floor is the onset's p99 over the floor's
#   outbox_pending_after  events not yet charged when the recovery load ends (the relay yields
#                      to callers while they are refused: --relay_yield_pause), and
#   outbox_drain_s     the time the relay then takes to charge them with no load (at most
#                      OVERLOAD_DRAIN_SECONDS, 120; outbox_pending_after_drain says what is left)
# OVERLOAD_ORDER_BIN / OVERLOAD_PAYMENT_BIN measure other binaries (e.g. main's) with this loadgen;
# OVERLOAD_ORDER_ARGS / OVERLOAD_PAYMENT_ARGS add flags (e.g. --admission_queue=8).

overload_order_bin=${OVERLOAD_ORDER_BIN:-$order_bin}
overload_payment_bin=${OVERLOAD_PAYMENT_BIN:-$payment_bin}
overload_clients=${OVERLOAD_CLIENTS:-400}
overload_peak_clients=${OVERLOAD_PEAK_CLIENTS:-32}
overload_deadline_ms=${OVERLOAD_DEADLINE_MS:-100}
overload_seconds=${OVERLOAD_SECONDS:-10}
overload_payment_latency_ms=${OVERLOAD_PAYMENT_LATENCY_MS:-200}
overload_drain_seconds=${OVERLOAD_DRAIN_SECONDS:-120}
overload_floor_bin=${OVERLOAD_FLOOR_BIN:-$BUILD_DIR/bench/refusal_floor}

# overload_storm TARGET KEY_PREFIX [LOADGEN ARGS...]: the storm's load (one definition for both
# the service and the floor).
overload_storm() {
  local target=$1 prefix=$2
  shift 2
  "$loadgen" --target="$target" --scenario=create --concurrency="$overload_clients" \
    --channels=8 --timeout="${overload_deadline_ms}ms" --duration="${overload_seconds}s" \
    --pushback="${OVERLOAD_PUSHBACK:-true}" --key_prefix="$prefix" "$@"
}

# overload_floor: the storm against the refusal floor; prints its refusal figures.
overload_floor() {
  start ovl-floor "$overload_floor_bin"
  local fpid=$started_pid out=$work/overload-floor-storm.out
  log "overload (floor): $overload_clients callers, ${overload_deadline_ms} ms deadlines," \
    "${overload_seconds}s against gRPC refusing every call"
  overload_storm "127.0.0.1:$started_port" storm-floor >"$out" 2>>"$work/loadgen.log"
  stop "$fpid"
  echo "overload_floor_refusals=$(value refused "$out")"
  echo "overload_floor_refusal_p99_ms=$(value refused_p99_ms "$out")"
  echo "overload_floor_refusal_p99_first_1s_ms=$(value refused_first_1s_p99_ms "$out")"
  echo "overload_floor_refusal_p99_after_1s_ms=$(value refused_after_1s_p99_ms "$out")"
}

# overload_run PREFIX DB_SUFFIX [PAYMENT ARGS...]: one peak / storm / recovery run; prints figures.
overload_run() {
  local prefix=$1 suffix=$2
  shift 2
  local odb=bench_overload_$suffix pdb=bench_overload_payments_$suffix
  psql_db postgres "CREATE DATABASE $odb" >/dev/null
  psql_db postgres "CREATE DATABASE $pdb" >/dev/null
  # shellcheck disable=SC2086  # OVERLOAD_PAYMENT_ARGS: extra flags, space-separated
  start "ovl-payments-$suffix" "$overload_payment_bin" --database="$cluster dbname=$pdb" "$@" \
    ${OVERLOAD_PAYMENT_ARGS:-}
  local ppid=$started_pid paddr=127.0.0.1:$started_port
  # shellcheck disable=SC2086  # OVERLOAD_ORDER_ARGS: extra flags, space-separated
  start "ovl-orders-$suffix" "$overload_order_bin" --database="$cluster dbname=$odb" \
    --payment_addr="$paddr" ${OVERLOAD_ORDER_ARGS:-}
  local opid=$started_pid oaddr=127.0.0.1:$started_port
  local out=$work/overload-$suffix
  log "overload ($suffix): peak, $overload_peak_clients in flight, 1 s warm-up + 5 s"
  "$loadgen" --target="$oaddr" --scenario=create --concurrency="$overload_peak_clients" \
    --duration=5s --warmup=1s --key_prefix="peak-$suffix" --table=false \
    >"$out-peak.out" 2>>"$work/loadgen.log"
  local peak; peak=$(value ok_rps "$out-peak.out")
  local before; before=$(psql_db "$odb" "SELECT count(*) FROM orders")
  log "overload ($suffix): peak $peak/s; storm: $overload_clients callers," \
    "${overload_deadline_ms} ms deadlines, ${overload_seconds}s, GetOrder probe every 100 ms"
  overload_storm "$oaddr" "storm-$suffix" --probe_interval=100ms --probe_timeout=250ms \
    --probe_order_id=1 >"$out-storm.out" 2>>"$work/loadgen.log"
  local after; after=$(psql_db "$odb" "SELECT count(*) FROM orders")
  "$loadgen" --target="$oaddr" --scenario=create --concurrency="$overload_peak_clients" \
    --duration=5s --key_prefix="recovery-$suffix" --table=false \
    >"$out-recovery.out" 2>>"$work/loadgen.log"
  local recovery; recovery=$(value ok_rps "$out-recovery.out")
  local rss; rss=$(hwm_kib "$opid")
  local storm_ok; storm_ok=$(value ok "$out-storm.out")
  local storm_rps; storm_rps=$(value ok_rps "$out-storm.out")
  local wasted=$((after - before - storm_ok))
  local pay_calls pay_errors
  pay_calls=$(grep -c '"method":"/payments.v1.PaymentService/Charge"' "$work/ovl-payments-$suffix.log" || true)
  pay_errors=$(grep '"method":"/payments.v1.PaymentService/Charge"' "$work/ovl-payments-$suffix.log" |
    grep -vc '"code":"OK"' || true)
  log "overload ($suffix): storm $storm_rps/s ok ($(value status_OK "$out-storm.out") OK," \
    "$(value refused "$out-storm.out") refused, $(value status_DEADLINE_EXCEEDED "$out-storm.out") deadline);" \
    "committed $((after - before)); recovery $recovery/s; RSS $((rss / 1024)) MiB;" \
    "payments Charge calls $pay_calls, not OK $pay_errors"
  echo "${prefix}peak_rps=$peak"
  echo "${prefix}storm_ok_rps=$storm_rps"
  echo "${prefix}goodput_vs_peak=$(calc "%.2f" "$storm_rps / $peak")"
  echo "${prefix}rss_mib=$(calc "%.1f" "$rss / 1024")"
  echo "${prefix}storm_calls=$(value requests "$out-storm.out")"
  echo "${prefix}storm_ok=$storm_ok"
  echo "${prefix}storm_deadline_exceeded=$(value status_DEADLINE_EXCEEDED "$out-storm.out")"
  echo "${prefix}committed=$((after - before))"
  echo "${prefix}wasted_commits=$wasted"
  echo "${prefix}wasted_commits_ratio=$(calc "%.3f" "$wasted / ($storm_ok > 0 ? $storm_ok : 1)")"
  echo "${prefix}probes=$(value probes "$out-storm.out")"
  echo "${prefix}probe_failures=$(value probe_failures "$out-storm.out")"
  echo "${prefix}probe_max_ms=$(value probe_max_ms "$out-storm.out")"
  echo "${prefix}recovery_rps=$recovery"
  echo "${prefix}recovery_vs_peak=$(calc "%.2f" "$recovery / $peak")"
  local per_second; per_second=$(value ok_per_second "$out-recovery.out")
  echo "${prefix}recovery_per_second_vs_peak=$(echo "$per_second" | tr ',' '\n' |
    awk -v peak="$peak" '{ printf "%s%.2f", (NR > 1 ? "," : ""), $1 / peak }')"
  echo "${prefix}recovery_s=$(echo "$per_second" | tr ',' '\n' |
    awk -v peak="$peak" '$1 >= 0.9 * peak { print NR; found = 1; exit } END { if (!found) print "none" }')"
  echo "${prefix}refusals=$(value refused "$out-storm.out")"
  echo "${prefix}refusals_with_pushback=$(value refused_with_pushback "$out-storm.out")"
  echo "${prefix}refusal_p99_ms=$(value refused_p99_ms "$out-storm.out")"
  echo "${prefix}refusals_first_1s=$(value refused_first_1s "$out-storm.out")"
  echo "${prefix}refusal_p99_first_1s_ms=$(value refused_first_1s_p99_ms "$out-storm.out")"
  echo "${prefix}refusals_after_1s=$(value refused_after_1s "$out-storm.out")"
  echo "${prefix}refusal_p99_after_1s_ms=$(value refused_after_1s_p99_ms "$out-storm.out")"
  if [ -n "$floor_first_1s" ]; then
    echo "${prefix}refusal_p99_first_1s_vs_floor=$(calc "%.2f" \
      "$(value refused_first_1s_p99_ms "$out-storm.out") / ($floor_first_1s > 0 ? $floor_first_1s : 1)")"
  fi
  echo "${prefix}payment_charge_calls=$pay_calls"
  echo "${prefix}payment_charge_not_ok=$pay_errors"
  echo "${prefix}outbox_pending_after=$(pending_of "$odb")"
  local drain_start=$SECONDS
  wait_drained "$odb" "$overload_drain_seconds"
  echo "${prefix}outbox_drain_s=$((SECONDS - drain_start))"
  echo "${prefix}outbox_pending_after_drain=$(pending_of "$odb")"
  stop "$opid"
  stop "$ppid"
}

overload_phase() {  # OVERLOAD_SLOW_PAYMENTS=0 skips the second run; OVERLOAD_FLOOR=0 the floor
  : >"$work/overload.values"
  floor_first_1s=
  if [ "${OVERLOAD_FLOOR:-1}" != 0 ]; then
    overload_floor >>"$work/overload.values"
    floor_first_1s=$(value overload_floor_refusal_p99_first_1s_ms "$work/overload.values")
  fi
  overload_run overload_ plain >>"$work/overload.values"
  [ "${OVERLOAD_SLOW_PAYMENTS:-1}" = 0 ] && return 0
  overload_run overload_slow_payments_ slow --latency_ms="$overload_payment_latency_ms" \
    >>"$work/overload.values"
}
