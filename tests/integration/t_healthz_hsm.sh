#!/usr/bin/env bash
# The HSM token disappears under a running efosd: /healthz turns 503 (naming the HSM) within a
# few seconds; when the token returns, /healthz is 200 again without a restart.
# Works on a private COPY of the test token (own softhsm2.conf), so other tests are unaffected.
. "$(dirname "$0")/lib.sh"
t_init t_healthz_hsm

# the copy
mkdir -p "$T/hsm"
cp -a "$(dirname "$SOFTHSM2_CONF")/tokens" "$T/hsm/tokens"
cat >"$T/hsm/softhsm2.conf" <<CONF
directories.tokendir = $T/hsm/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
export SOFTHSM2_CONF=$T/hsm/softhsm2.conf
tokdir=$(grep -l "efos-hsm" "$T"/hsm/tokens/*/token.object 2>/dev/null | head -1)
tokdir=${tokdir%/token.object}
[ -d "$tokdir" ] || { fail "found the copied token directory"; t_done; }
ok "private copy of the test token: ${tokdir#$T/}"

# token_remove / token_restore: the token's directory leaves the token dir and comes back
token_remove()  { mv "$tokdir" "$T/hsm/token.away"; }
token_restore() { mv "$T/hsm/token.away" "$tokdir"; }
t_on_exit '[ -d "$T/hsm/token.away" ] && token_restore'

write_conf "$T/efos.conf" hsm.probe_interval=1
migrate "$T_CONF" || fail "efosctl db migrate"
if ! efosd_start "$T_CONF"; then fail "efosd starts"; t_done; fi
ok "efosd starts, /healthz 200"
pid=$T_PID
metric() { curl -s --max-time 5 --cacert "$T_TLS/ca.crt" "$T_URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
expect_eq "/metrics efos_hsm_up 1" "$(metric efos_hsm_up)" 1

token_remove
if wait_for 15 healthz_is 503; then ok "token gone: /healthz 503"; else fail "token gone: /healthz 503" "last: $(http_code "$T_URL/healthz")"; fi
body=$(curl -s --max-time 10 --cacert "$T_TLS/ca.crt" "$T_URL/healthz")
echo "#   /healthz without the token: $body"
expect_match "token gone: /healthz body names the HSM" "$body" '"hsm"|HSM|[Tt]oken'
expect_eq "token gone: /metrics still 200" "$(http_code "$T_URL/metrics")" 200
expect_eq "token gone: /metrics efos_hsm_up 0" "$(metric efos_hsm_up)" 0
sleep 2
if efosd_alive; then ok "token gone: efosd still running"; else fail "token gone: efosd still running"; fi

token_restore
if wait_for 20 healthz_is 200; then ok "token back: /healthz 200 without restart"; else fail "token back: /healthz 200 without restart" "last: $(http_code "$T_URL/healthz")"; fi
expect_eq "same efosd process" "$T_PID" "$pid"
expect_eq "token back: /metrics efos_hsm_up 1" "$(metric efos_hsm_up)" 1
codes=""
for i in $(seq 1 10); do codes="$codes $(http_code "$T_URL/healthz")"; done
bad=$(printf '%s\n' $codes | grep -vc '^200$')
expect_eq "token back: 10 requests all 200" "$bad" 0
rec=$(metric efos_hsm_recoveries_total)
if [ -n "$rec" ] && [ "${rec%.*}" -ge 1 ] 2>/dev/null; then ok "/metrics counts the recovery ($rec)"; else fail "/metrics counts the recovery" "efos_hsm_recoveries_total=$rec"; fi

# a second round: it recovers more than once
token_remove
if wait_for 15 healthz_is 503; then ok "second removal: /healthz 503"; else fail "second removal: /healthz 503"; fi
token_restore
if wait_for 20 healthz_is 200; then ok "second return: /healthz 200"; else fail "second return: /healthz 200"; fi

efosd_stop
expect_eq "efosd exits 0 on SIGTERM" "$T_EXIT" 0
t_done
