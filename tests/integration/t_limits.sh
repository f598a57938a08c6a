#!/usr/bin/env bash
# Limits: an oversized body gets 413 (JSON), oversized headers 431, too many connections 503;
# the server keeps serving after each.
. "$(dirname "$0")/lib.sh"
t_init t_limits

MAXCONN=8
write_conf "$T/efos.conf" http.max_body_bytes=4096 http.max_header_bytes=8192 \
	http.max_connections=$MAXCONN http.request_timeout=30 http.threads=2
migrate "$T_CONF" || fail "efosctl db migrate"
if ! efosd_start "$T_CONF"; then fail "efosd starts"; t_done; fi
ok "efosd starts"

curl_t() { curl -s --max-time 10 --cacert "$T_TLS/ca.crt" "$@"; }

# --- body size ---
head -c 100000 /dev/zero | tr '\0' a >"$T/big.body"
for route in /healthz /metrics /no-such-route /api/v1/anything; do
	code=$(curl_t -o "$T/413.json" -w '%{http_code}' -X POST -H 'Content-Type: application/octet-stream' \
		--data-binary @"$T/big.body" "$T_URL$route")
	expect_eq "POST 100 kB to $route: 413" "$code" 413
done
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d.get("status")==413 and d.get("error") else 1)' "$T/413.json" 2>/dev/null; then
	ok "413 body is JSON with error and status"
else
	fail "413 body is JSON with error and status" "$(head -c 300 "$T/413.json")"
fi
# chunked upload (no Content-Length) is bounded as well
code=$(curl_t -o /dev/null -w '%{http_code}' -X POST -H 'Transfer-Encoding: chunked' \
	--data-binary @"$T/big.body" "$T_URL/healthz")
expect_eq "chunked POST 100 kB: 413" "$code" 413
# a body just under the limit is not refused for its size
head -c 2000 /dev/zero | tr '\0' a >"$T/small.body"
code=$(curl_t -o /dev/null -w '%{http_code}' -X POST --data-binary @"$T/small.body" "$T_URL/healthz")
if [ "$code" != 413 ] && [ "$code" != 000 ]; then ok "POST 2 kB is not 413 ($code)"; else fail "POST 2 kB is not 413" "got $code"; fi
expect_eq "after 413s: /healthz 200" "$(http_code "$T_URL/healthz")" 200

# --- header size ---
bigh=$(head -c 20000 /dev/zero | tr '\0' b)
code=$(curl_t -o "$T/431.json" -w '%{http_code}' -H "X-Big: $bigh" "$T_URL/healthz")
expect_eq "20 kB header: 431" "$code" 431
manyh=()
for i in $(seq 1 400); do manyh+=(-H "X-H$i: 0123456789012345678901234567890123456789"); done
code=$(curl_t -o /dev/null -w '%{http_code}' "${manyh[@]}" "$T_URL/healthz")
expect_eq "400 headers (~20 kB): 431" "$code" 431
expect_eq "after 431s: /healthz 200" "$(http_code "$T_URL/healthz")" 200

# --- connections ---
# hold_idle N: N TLS connections open (handshake done, no request sent); pids in holders.
holders=()
mkfifo "$T/hold.fifo"
exec 9<>"$T/hold.fifo"
t_on_exit 'kill ${holders[*]} 2>/dev/null; exec 9>&-'
hold_idle() {
	local i
	for i in $(seq 1 "$1"); do
		openssl s_client -connect "127.0.0.1:$T_PORT" -quiet -no_ign_eof <&9 >/dev/null 2>&1 &
		holders+=($!)
	done
}
release() { kill "${holders[@]}" 2>/dev/null; wait "${holders[@]}" 2>/dev/null; holders=(); }
probe6() { local i c=""; for i in 1 2 3 4 5 6; do c="$c $(T_CURL_TIMEOUT=5 http_code "$T_URL/healthz")"; done; echo "$c"; }

hold_idle $((2 * MAXCONN))
sleep $((2 * T_SLOW))
codes=$(probe6)
echo "#   /healthz while $((2 * MAXCONN)) idle connections are held open: $codes"
case " $codes " in
*" 503 "*) ok "more than http.max_connections connections: 503";;
*) fail "more than http.max_connections connections: 503" "got:$codes";;
esac
release
if wait_for 10 healthz_is 200; then ok "connections released: /healthz 200 again"; else fail "connections released: /healthz 200 again"; fi

# MAXCONN-1 held: the next request is the last one allowed
hold_idle $((MAXCONN - 1))
sleep $((2 * T_SLOW))
codes=$(probe6)
echo "#   /healthz while $((MAXCONN - 1)) idle connections are held open: $codes"
bad=$(printf '%s\n' $codes | grep -vc '^200$')
expect_eq "connection number $MAXCONN is still served (200)" "$bad" 0
release

# exactly MAXCONN held: the next request is one too many (the count did not drift)
hold_idle "$MAXCONN"
sleep $((2 * T_SLOW))
codes=$(probe6)
echo "#   /healthz while $MAXCONN idle connections are held open: $codes"
case " $codes " in
*" 503 "*) ok "limit still exact after rejections: connection $((MAXCONN + 1)) gets 503";;
*) fail "limit still exact after rejections: connection $((MAXCONN + 1)) gets 503" "got:$codes";;
esac
release
if wait_for 10 healthz_is 200; then ok "released again: /healthz 200"; else fail "released again: /healthz 200"; fi

# slow uploads hold connections too: MAXCONN of them, started one by one so that each is
# admitted, then one more request
for i in $(seq 1 "$MAXCONN"); do
	curl -s --cacert "$T_TLS/ca.crt" -o /dev/null --max-time $((20 * T_SLOW)) --limit-rate 100 -H 'Expect:' \
		-X POST --data-binary @"$T/small.body" "$T_URL/healthz" &
	holders+=($!)
	sleep 0.2
done
sleep $((1 * T_SLOW))
codes=$(probe6)
echo "#   /healthz during $MAXCONN slow uploads: $codes"
case " $codes " in
*" 503 "*) ok "slow uploads filling http.max_connections: the next request gets 503";;
*) fail "slow uploads filling http.max_connections: the next request gets 503" "got:$codes";;
esac
release
if wait_for 10 healthz_is 200; then ok "after the slow uploads: /healthz 200"; else fail "after the slow uploads: /healthz 200"; fi

# the limits show in /metrics
m=$(curl_t "$T_URL/metrics")
expect_match "/metrics counts the 413s" "$m" 'status="413"'
if efosd_alive; then ok "efosd still running"; else fail "efosd still running"; fi
efosd_stop
expect_eq "efosd exits 0 on SIGTERM" "$T_EXIT" 0

t_done
