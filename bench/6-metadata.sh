#!/usr/bin/env bash
# Row group 6, metadata (bench/README.md): a generated, signed aggregate of EFOS_BENCH_MD_ENTITIES
# (10,000) SP entities, verified and indexed by idp_md_parse() (bench/mdparse, the code path of
# efosd's metadata store for a federation feed: signature and validUntil required); seconds
# (wall clock and CPU) and peak resident memory. Then the same while SSO logins run against
# efosd at concurrency 16 (both compete for the same cores, as a refresh does inside efosd).
. "$EFOS_TOP/bench/lib-bench.sh"
N=${EFOS_BENCH_MD_ENTITIES:-10000}
W=$EFOS_TEST_DIR/metadata
rm -rf "$W"; mkdir -p "$W"
MDPARSE=$EFOS_BUILD/bench/mdparse
python3 "$EFOS_TOP/bench/tools/mk-aggregate.py" "$W/agg.xml" "$N" || { echo "note metadata: generating the aggregate failed"; exit 1; }
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/fed.key" -out "$W/fed.crt" -days 30 -subj "/CN=bench federation" 2>/dev/null
xmlsec1 --sign --privkey-pem "$W/fed.key,$W/fed.crt" --id-attr:ID urn:oasis:names:tc:SAML:2.0:metadata:EntitiesDescriptor \
	--output "$W/agg-signed.xml" "$W/agg.xml" 2>"$W/sign.err" || { echo "note metadata: xmlsec1 could not sign the aggregate: $(head -2 "$W/sign.err")"; exit 1; }
rm -f "$W/agg.xml"
mb=$(awk -v b="$(stat -c %s "$W/agg-signed.xml")" 'BEGIN { printf "%.1f", b / 1048576 }')
row() {   # CASE LINE [extra]
	echo "result bench=metadata case=$1 value=$(bench_field "$2" seconds) unit=s cpu_s=$(bench_field "$2" cpu_seconds)" \
		"entities=$(bench_field "$2" entities) skipped=$(bench_field "$2" skipped) document_MB=$mb" \
		"peak_rss_MB=$(bench_field "$2" peak_rss_MB) rss_before_MB=$(bench_field "$2" rss_before_MB)" \
		"rss_with_batch_MB=$(bench_field "$2" rss_with_batch_MB) target=<3_s,<300_MB ${3:-}"
}
line=$("$MDPARSE" "$W/agg-signed.xml" "$W/fed.crt" 2>"$W/mdparse.err")
[ -n "$line" ] || { echo "note metadata: idp_md_parse failed: $(head -2 "$W/mdparse.err")"; exit 1; }
row "load_${N}_SPs_(verify_+_index)" "$line"

if bench_env_up; then
	reqs=$T/authnreqs-md.txt
	bench_authnreqs "$(awk -v s="$(bench_seconds)" 'BEGIN { printf "%d", (s + 3) * 1000 }')" "$reqs"
	BENCH_LOAD_SECONDS=$(bench_short_seconds) bench_load --urls "$reqs" --cookie "$BENCH_SSO_COOKIE" --follow 3 --expect 'name="SAMLResponse"' \
		--concurrency 16 >"$W/logins.out" 2>"$W/logins.err" &
	lg=$!
	sleep "$(bench_warmup)"; sleep 1
	line=$("$MDPARSE" "$W/agg-signed.xml" "$W/fed.crt" 2>>"$W/mdparse.err")
	wait "$lg"
	rm -f "$reqs"
	ll=$(cat "$W/logins.out")
	[ -n "$line" ] && row "the_same_while_logins_run_(concurrency_16)" "$line" \
		"logins/s_meanwhile=$(bench_field "$ll" ops_per_s) login_errors=$(bench_field "$ll" errors)"
else
	echo "note metadata: the row under login load was skipped: the benchmark efosd could not be set up"
fi
echo "note metadata: wall-clock seconds on a shared machine are inflated by other programs: cpu_s is the work itself; peak_rss_MB is the tool's VmHWM during the parse (the 36 MB document included); rss_with_batch_MB what stays held afterwards (the document buffer + the index)"
