#!/usr/bin/env bash
# Row group 2, logins (bench/README.md): complete SP-initiated logins over HTTPS with keep-alive
# for a user who already has an SSO session, each with a fresh signed AuthnRequest (made before
# the timed part): GET /idp/sso/redirect → 200 with the auto-POST form (the notice is remembered,
# so the SSO request is answered at once; --follow still allows the way through /idp/login/next)
# carrying a signed Response with an encrypted assertion (AES-256-GCM, RSA-OAEP). Only answers
# with a SAMLResponse form count. Concurrency 1, 16, 64 (EFOS_BENCH_LOGIN_CONCURRENCY), each
# EFOS_BENCH_SECONDS (30). Then the same login with a full card login per request: a new TLS
# handshake on the mTLS listener signed by the card key in its token.
. "$EFOS_TOP/bench/lib-bench.sh"
bench_env_up || { echo "note logins skipped: the benchmark efosd could not be set up (see bench/results/raw)"; exit 1; }
secs=$(bench_seconds)
# enough requests for the fastest plausible rate; a row that runs out says so (exhausted=1)
per_row=$(awk -v s="$secs" -v r="${EFOS_BENCH_LOGIN_MAXRATE:-1000}" -v w="$(bench_warmup)" 'BEGIN { printf "%d", (s + w) * r }')
lim_c1=XMLDSIG_HSM_RSA2048_T1
status=0
for c in ${EFOS_BENCH_LOGIN_CONCURRENCY:-1 16 64}; do
	reqs=$T/authnreqs-c$c.txt
	n=$per_row; [ "$c" = 1 ] && n=$((per_row / 2 + 100))
	bench_authnreqs "$n" "$reqs" || { echo "note logins c=$c: generating AuthnRequests failed"; status=1; continue; }
	line=$(bench_load --urls "$reqs" --cookie "$BENCH_SSO_COOKIE" --follow 3 --expect 'name="SAMLResponse"' \
		--concurrency "$c" 2>"$T/loadgen-c$c.err")
	rm -f "$reqs"
	[ -n "$line" ] || { echo "note logins c=$c: the load generator failed: $(head -3 "$T/loadgen-c$c.err" | tr '\n' ' ')"; status=1; continue; }
	lim=XMLDSIG_HSM_RSA2048_T2; [ "$c" = 1 ] && lim=$lim_c1
	echo "result bench=logins case=SSO_session,_concurrency_$c value=$(bench_field "$line" ops_per_s) unit=logins/s limit=$lim" \
		"p50_ms=$(bench_field "$line" p50_ms) p99_ms=$(bench_field "$line" p99_ms) errors=$(bench_field "$line" errors)" \
		"ok=$(bench_field "$line" ok) exhausted=$(bench_field "$line" exhausted)"
	[ "$(bench_field "$line" errors)" = 0 ] || { echo "note logins c=$c: errors: $(head -2 "$T/loadgen-c$c.err" | tr '\n' ' ' | cut -c1-300)"; }
done

# the full card login per request: no SSO cookie; the card step on the mTLS listener with a new
# TLS handshake each time (the card's key signs it through its PKCS#11 token)
cc=${EFOS_BENCH_CARD_CONCURRENCY:-16}
reqs=$T/authnreqs-card.txt
bench_authnreqs "$(awk -v s="$secs" 'BEGIN { printf "%d", (s + 3) * 800 }')" "$reqs"
mtls_origin=${T_MTLS_URL#https://}
line=$(EFOS_LOADGEN_PIN=$CREDS_CARD_PIN bench_load --urls "$reqs" --follow 4 --expect 'name="SAMLResponse"' \
	--concurrency "$cc" --fresh-tls "$mtls_origin" --cert "$CREDS_CARD_AUTH_PEM" \
	--key-uri "$BENCH_CARD_KEY_URI" --module "$EFOS_TEST_HSM_MODULE" 2>"$T/loadgen-card.err")
rm -f "$reqs"
if [ -n "$line" ]; then
	echo "result bench=logins case=card_login_per_request,_concurrency_$cc value=$(bench_field "$line" ops_per_s) unit=logins/s" \
		"limit=XMLDSIG_HSM_RSA2048_T2 p50_ms=$(bench_field "$line" p50_ms) p99_ms=$(bench_field "$line" p99_ms)" \
		"errors=$(bench_field "$line" errors) ok=$(bench_field "$line" ok)"
	[ "$(bench_field "$line" errors)" = 0 ] || echo "note card logins: errors: $(head -2 "$T/loadgen-card.err" | tr '\n' ' ' | cut -c1-300)"
else
	echo "note card logins: the load generator failed: $(head -3 "$T/loadgen-card.err" | tr '\n' ' ')"; status=1
fi
# ---- the work of one login, measured: SQL statements (each one round trip to PostgreSQL) from
# PostgreSQL's own statement log during M logins at concurrency 1, minus the same window idle
# (the health probe and the metadata poll run meanwhile)
pglog=$EFOS_TEST_DIR/pg/server.log
M=${EFOS_BENCH_WORK_LOGINS:-50}
if [ -f "$pglog" ] && psql_as "$EFOS_TEST_PG_SUPER" -c "ALTER SYSTEM SET log_min_duration_statement = 0" -c "SELECT pg_reload_conf()" >/dev/null 2>&1; then
	sleep 1
	# one line per statement executed (the extended protocol also logs its parse and bind steps)
	count_stmts() { grep -cE 'duration: [0-9.]+ ms  (execute [^:]*|statement): ' "$pglog" 2>/dev/null; }
	bench_authnreqs "$M" "$T/authnreqs-work.txt"
	aa=$(bench_allocs); a=$(count_stmts); t0=$(date +%s.%N)
	line=$("$LOADGEN" --cacert "$T_TLS/ca.crt" --warmup 0 --duration 600 --urls "$T/authnreqs-work.txt" \
		--cookie "$BENCH_SSO_COOKIE" --follow 3 --expect 'name="SAMLResponse"' --concurrency 1 2>/dev/null)
	b=$(count_stmts); ab=$(bench_allocs); t1=$(date +%s.%N)
	sleep "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"
	c=$(count_stmts); ac=$(bench_allocs)
	psql_as "$EFOS_TEST_PG_SUPER" -c "ALTER SYSTEM RESET log_min_duration_statement" -c "SELECT pg_reload_conf()" >/dev/null 2>&1
	okn=$(bench_field "$line" ok)
	if [ "${okn:-0}" -gt 0 ]; then
		echo "note logins, work per login (measured over $okn SSO logins): $(awk -v a="$a" -v b="$b" -v c="$c" -v n="$okn" \
			'BEGIN { printf "%.1f", ((b - a) - (c - b)) / n }') SQL statements (PostgreSQL round trips, BEGIN/COMMIT included)$(
			[ -n "$aa" ] && awk -v a="$aa" -v b="$ab" -v c="$ac" -v n="$okn" 'BEGIN { printf ", %.0f heap allocations (malloc, calloc, realloc in efosd, OpenSSL, libxml2, xmlsec, libpq)", ((b - a) - (c - b)) / n }'
			) (each with the background of an idle window of the same length subtracted); 1 RSA-2048 signature in the HSM (the Response; the bench SP does not ask for signed assertions); 1 RSA-OAEP key transport + AES-256-GCM encryption; 1 RSA-2048 verification of the AuthnRequest's query signature"
	fi
	rm -f "$T/authnreqs-work.txt"
fi
echo "note logins: a closed loop of N clients, no think time; one SSO login = GET /idp/sso/redirect answered at once (intake, AuthnRequest signature check, replay cache, SSO session and card check, release, Response signed in the HSM, assertion encrypted for the SP, audit); SSO row with the SSO cookie and the notice remembered; card row: + GET /idp/login/card on a new mTLS connection (card key in SoftHSM, EC P-256)"
exit $status
