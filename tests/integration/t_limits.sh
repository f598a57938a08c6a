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
# Hold 2*MAXCONN TLS connections open (handshake done, no request), then ask for /healthz.
holders=()
mkfifo "$T/hold.fifo"
exec 9<>"$T/hold.fifo"
for i in $(seq 1 $((2 * MAXCONN))); do
	openssl s_client -connect "127.0.0.1:$T_PORT" -quiet -no_ign_eof <&9 >/dev/null 2>&1 &
	holders+=($!)
done
t_on_exit 'kill ${holders[*]} 2>/dev/null; exec 9>&-'
sleep $((2 * T_SLOW))
codes=""
for i in $(seq 1 6); do codes="$codes $(T_CURL_TIMEOUT=5 http_code "$T_URL/healthz")"; done
echo "#   /healthz while $((2 * MAXCONN)) connections are held open: $codes"
case " $codes " in
*" 503 "*) ok "more than http.max_connections connections: 503";;
*) fail "more than http.max_connections connections: 503" "got:$codes";;
esac
# slow uploads hold connections too
kill "${holders[@]}" 2>/dev/null; wait "${holders[@]}" 2>/dev/null
holders=()
if wait_for 10 healthz_is 200; then ok "connections released: /healthz 200 again"; else fail "connections released: /healthz 200 again"; fi

for i in $(seq 1 $((2 * MAXCONN))); do
	curl_t -o /dev/null --max-time 20 --limit-rate 200 -X POST --data-binary @"$T/small.body" "$T_URL/healthz" &
	holders+=($!)
done
sleep $((2 * T_SLOW))
codes=""
for i in $(seq 1 6); do codes="$codes $(T_CURL_TIMEOUT=5 http_code "$T_URL/healthz")"; done
echo "#   /healthz during $((2 * MAXCONN)) slow uploads: $codes"
case " $codes " in
*" 503 "*) ok "slow uploads beyond http.max_connections: 503";;
*) fail "slow uploads beyond http.max_connections: 503" "got:$codes";;
esac
kill "${holders[@]}" 2>/dev/null; wait "${holders[@]}" 2>/dev/null
holders=()
if wait_for 10 healthz_is 200; then ok "after the slow uploads: /healthz 200"; else fail "after the slow uploads: /healthz 200"; fi

# the limits show in /metrics
m=$(curl_t "$T_URL/metrics")
expect_match "/metrics counts the 413s" "$m" 'status="413"'
if efosd_alive; then ok "efosd still running"; else fail "efosd still running"; fi
efosd_stop
expect_eq "efosd exits 0 on SIGTERM" "$T_EXIT" 0

t_done
