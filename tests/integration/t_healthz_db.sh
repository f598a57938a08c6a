#!/usr/bin/env bash
# PostgreSQL goes away under a running efosd: /healthz turns 503 (naming the database) while
# /metrics keeps answering; when PostgreSQL is back /healthz is 200 again, same efosd process.
. "$(dirname "$0")/lib.sh"
t_init t_healthz_db

write_conf "$T/efos.conf"
migrate "$T_CONF" || fail "efosctl db migrate"
if ! efosd_start "$T_CONF"; then fail "efosd starts"; t_done; fi
ok "efosd starts, /healthz 200"
pid=$T_PID

# Whatever happens, PostgreSQL is running again when this test ends.
t_on_exit 'pg_up "$EFOS_TEST_DIR" "$EFOS_TEST_PGPORT" off >/dev/null 2>&1'

# 1. a full outage: stop, check, start
pg_down "$EFOS_TEST_DIR"
if pg_is_up "$EFOS_TEST_DIR"; then fail "PostgreSQL stopped"; else ok "PostgreSQL stopped"; fi
if wait_for 15 healthz_is 503; then ok "outage: /healthz 503"; else fail "outage: /healthz 503" "last: $(http_code "$T_URL/healthz")"; fi
body=$(curl -s --max-time 10 --cacert "$T_TLS/ca.crt" "$T_URL/healthz")
expect_match "outage: /healthz body names the database" "$body" '"(db|database|postgres[a-z]*)"|[Dd]atabase'
echo "#   /healthz during the outage: $body"
expect_eq "outage: /metrics still 200" "$(http_code "$T_URL/metrics")" 200
codes=""
for i in 1 2 3 4 5; do codes="$codes $(http_code "$T_URL/healthz")"; done
if ! printf '%s' "$codes" | grep -q 000; then ok "outage: every request is answered ($codes)"; else fail "outage: every request is answered" "$codes"; fi
sleep 2
if efosd_alive; then ok "outage: efosd still running"; else fail "outage: efosd still running"; fi

pg_up "$EFOS_TEST_DIR" "$EFOS_TEST_PGPORT" off >/dev/null
if wait_for 30 healthz_is 200; then ok "PostgreSQL back: /healthz 200 without restart"; else fail "PostgreSQL back: /healthz 200 without restart" "last: $(http_code "$T_URL/healthz")"; fi
expect_eq "same efosd process" "$T_PID" "$pid"
# every pooled connection was replaced: a run of requests all succeed
codes=""
for i in $(seq 1 20); do codes="$codes $(http_code "$T_URL/healthz")"; done
bad=$(printf '%s\n' $codes | grep -vc '^200$')
expect_eq "after recovery: 20 requests all 200" "$bad" 0

# 2. a quick restart (what an operator's restart or a failover looks like)
scripts_restart() { "$EFOS_TOP/scripts/testenv.sh" restart-pg "$EFOS_TEST_DIR"; }
scripts_restart >/dev/null 2>&1 && ok "PostgreSQL restarted (pg_ctl restart -m fast)" || fail "PostgreSQL restarted"
if wait_for 30 healthz_is 200; then ok "after restart: /healthz 200"; else fail "after restart: /healthz 200"; fi
codes=""
for i in $(seq 1 20); do codes="$codes $(http_code "$T_URL/healthz")"; done
bad=$(printf '%s\n' $codes | grep -vc '^200$')
expect_eq "after restart: 20 requests all 200" "$bad" 0
expect_eq "same efosd process after restart" "$T_PID" "$pid"

m=$(curl -s --max-time 10 --cacert "$T_TLS/ca.crt" "$T_URL/metrics")
expect_match "/metrics reports the DB pool" "$m" '^efos_db_[a-z_]+'
efosd_stop
expect_eq "efosd exits 0 on SIGTERM" "$T_EXIT" 0
t_done
