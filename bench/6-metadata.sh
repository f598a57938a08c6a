#!/usr/bin/env bash
# Row group 6, metadata (bench/README.md): a generated, signed aggregate of EFOS_BENCH_MD_ENTITIES
# (10,000) SP entities, verified and indexed by idp_md_parse() (bench/mdparse, the code path of
# efosd's metadata store for a federation feed: signature and validUntil required); seconds
# (wall clock and CPU) and peak resident memory.
# Then the same inside efosd: the bench efosd is restarted with the aggregate as a federation
# feed (idp.federation_feeds, served over HTTP from this machine), loads it at start, and while
# SSO logins run against it at concurrency 16 a re-signed aggregate is put in place and SIGHUP
# makes efosd refresh now: seconds from the start of the refresh until the new index serves
# (efosd's own log, event sp_metadata.index), efosd's peak RSS during it (VmHWM reset just
# before, and VmRSS sampled every 50 ms), RSS afterwards, logins/s inside the refresh window
# (loadgen --timeline) and login errors. The bench SP stays in its local file
# (idp.sp_metadata_files), so the logins look it up in every new index. Afterwards efosd is
# restarted with its former configuration for the later rows.
. "$EFOS_TOP/bench/lib-bench.sh"
N=${EFOS_BENCH_MD_ENTITIES:-10000}
W=$EFOS_TEST_DIR/metadata
rm -rf "$W"; mkdir -p "$W"
MDPARSE=$EFOS_BUILD/bench/mdparse
python3 "$EFOS_TOP/bench/tools/mk-aggregate.py" "$W/agg.xml" "$N" || { echo "note metadata: generating the aggregate failed"; exit 1; }
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/fed.key" -out "$W/fed.crt" -days 30 -subj "/CN=bench federation" 2>/dev/null
xmlsec1 --sign --privkey-pem "$W/fed.key,$W/fed.crt" --id-attr:ID urn:oasis:names:tc:SAML:2.0:metadata:EntitiesDescriptor \
	--output "$W/agg-signed.xml" "$W/agg.xml" 2>"$W/sign.err" || { echo "note metadata: xmlsec1 could not sign the aggregate: $(head -2 "$W/sign.err")"; exit 1; }
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

# ---- the refresh inside efosd -------------------------------------------------------------------
# the first index line after byte POS of efosd's log with at least N entities
index_line() { tail -c +"$(($1 + 1))" "$T_LOG" 2>/dev/null | grep '"event":"sp_metadata.index"' | grep '"seconds":' |
	awk -v n="$N" '{ if (match($0, /"entities":[0-9]+/) && substr($0, RSTART + 11, RLENGTH - 11) + 0 >= n) { print; exit } }'; }
loaded_line() { tail -c +"$(($1 + 1))" "$T_LOG" 2>/dev/null | grep '"event":"sp_metadata.loaded"' | grep '"from":"download"' | head -1; }
jnum() { printf '%s\n' "$1" | sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" | head -1; }
wait_index() {   # POS SECONDS: waits for index_line, prints it
	local i line
	for i in $(seq 1 $(($2 * 10))); do
		line=$(index_line "$1")
		[ -n "$line" ] && { printf '%s\n' "$line"; return 0; }
		sleep 0.1
	done
	return 1
}
efosd_restart() {   # CONF: efosd again (with the allocation shim when the set-up used it); the env file follows
	# efosd_start moves to new ports when one was taken meanwhile (conf_new_ports needs these)
	T_PORT=${T_URL##*:} T_MTLS_PORT=${T_MTLS_URL##*:}
	efosd_stop
	if [ -s "$T/alloc-count.so" ] && [ "${EFOS_BENCH_COUNT_ALLOCS:-1}" = 1 ]; then
		LD_PRELOAD=$T/alloc-count.so EFOS_ALLOC_COUNT_FILE=$T/alloc-count.bin efosd_start "$1" || return 1
	else
		efosd_start "$1" || return 1
	fi
	sed -i -e "s/^T_PID=.*/T_PID=$T_PID/" -e "s|^T_URL=.*|T_URL=$T_URL|" -e "s|^T_MTLS_URL=.*|T_MTLS_URL=$T_MTLS_URL|" "$T/env"
}

md_in_efosd() {
	local feed=$W/feed port srv conf_orig=$W/efos.conf.orig pos line secs vu
	mkdir -p "$feed" "$W/cache"
	cp "$W/agg-signed.xml" "$feed/aggregate.xml"
	# the aggregate of the refresh: the same entities signed again under another Name, so it is a
	# new document (an unchanged feed is recognised by its hash and not parsed again)
	sed 's/Name="urn:bench:aggregate"/Name="urn:bench:aggregate:refreshed"/' "$W/agg.xml" >"$W/agg2.xml"
	xmlsec1 --sign --privkey-pem "$W/fed.key,$W/fed.crt" --id-attr:ID urn:oasis:names:tc:SAML:2.0:metadata:EntitiesDescriptor \
		--output "$W/agg2-signed.xml" "$W/agg2.xml" 2>>"$W/sign.err" || { echo "note metadata: xmlsec1 could not sign the second aggregate"; return 1; }
	rm -f "$W/agg2.xml"
	port=$(free_port) || return 1
	python3 -m http.server "$port" --bind 127.0.0.1 --directory "$feed" >"$W/http.log" 2>&1 &
	srv=$!
	FEED_URL=http://127.0.0.1:$port/aggregate.xml
	for _ in $(seq 1 50); do curl -fsS -o /dev/null -r 0-0 "$FEED_URL" 2>/dev/null && break; sleep 0.1; done
	cp "$T_CONF" "$conf_orig"
	{
		echo "idp.federation_feeds = $FEED_URL"
		echo "idp.federation_certs = $W/fed.crt"
		echo "idp.metadata_cache_dir = $W/cache"
		echo "idp.metadata_refresh = 7d"   # only SIGHUP refreshes during the row
		[ "$(stat -c %s "$W/agg-signed.xml")" -gt $((60 << 20)) ] && echo "idp.metadata_max_bytes = 1GiB"
	} >>"$T_CONF"
	local status=1
	: >>"$T_LOG"; pos=$(wc -c <"$T_LOG")
	if ! efosd_restart "$T_CONF"; then
		echo "note metadata: efosd did not start with the feed: $(tail -c +"$((pos + 1))" "$T_LOG" | grep -m2 '"level":"error"' | cut -c1-300)"
	elif ! line=$(wait_index "$pos" 120); then
		echo "note metadata: efosd did not index the feed within 120 s: $(loaded_line "$pos" | cut -c1-300)$(tail -c +"$((pos + 1))" "$T_LOG" | grep -m2 'SP metadata' | grep -v '"level":"info"' | cut -c1-300)"
	else
		local ld; ld=$(loaded_line "$pos")
		sleep 1   # the last good copy is written after the new index serves; then the buffer is freed
		echo "result bench=metadata case=efosd_start:_feed_of_${N}_SPs_(download_+_verify_+_index) value=$(jnum "$line" seconds) unit=s" \
			"entities=$(jnum "$line" entities) verify_index_s=$(jnum "$ld" seconds) download_s=$(jnum "$ld" download_seconds)" \
			"rss_after_MB=$(bench_rss "$T_PID") peak_rss_MB=$(bench_hwm "$T_PID") target=<3_s,<300_MB"
		md_refresh_under_load && status=0
	fi
	# the later rows get the efosd they expect: without the feed
	cp "$conf_orig" "$T_CONF"
	efosd_restart "$T_CONF" || echo "note metadata: efosd did not start again with its former configuration"
	kill "$srv" 2>/dev/null; wait "$srv" 2>/dev/null
	rm -rf "$feed" "$W/cache"
	return $status
}

md_refresh_under_load() {
	local pid=$T_PID reqs=$T/authnreqs-md.txt tl=$W/timeline.txt dur warm pos lg sampler t_hup line ld secs hwm rss0 rss1 ll
	dur=$(awk -v s="$(bench_short_seconds)" 'BEGIN { print (s < 8 ? 8 : s) }')   # room for the refresh on a slow machine
	warm=$(bench_warmup)
	sleep 1
	bench_authnreqs "$(awk -v s="$dur" 'BEGIN { printf "%d", (s + 3) * 1000 }')" "$reqs" || { echo "note metadata: generating AuthnRequests failed"; return 1; }
	cp "$W/agg2-signed.xml" "$W/feed/aggregate.xml.tmp" && mv "$W/feed/aggregate.xml.tmp" "$W/feed/aggregate.xml"
	BENCH_LOAD_SECONDS=$dur bench_load --urls "$reqs" --cookie "$BENCH_SSO_COOKIE" --follow 3 --expect 'name="SAMLResponse"' \
		--concurrency 16 --timeline "$tl" >"$W/logins.out" 2>"$W/logins.err" &
	lg=$!
	sleep "$warm"; sleep 1
	rss0=$(bench_rss "$pid")
	echo 5 >"/proc/$pid/clear_refs" 2>/dev/null   # VmHWM := VmRSS now, so it is the peak of the refresh
	( while kill -0 "$pid" 2>/dev/null; do bench_rss "$pid"; echo; sleep 0.05; done ) >"$W/rss-samples" &
	sampler=$!
	pos=$(wc -c <"$T_LOG")
	t_hup=$(date +%s.%N)
	kill -HUP "$pid"
	line=$(wait_index "$pos" "$((${dur%.*} + 60))")
	hwm=$(bench_hwm "$pid")
	wait "$lg"
	kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
	rm -f "$reqs"
	sleep 1
	rss1=$(bench_rss "$pid")
	ll=$(cat "$W/logins.out")
	if [ -z "$line" ]; then
		echo "note metadata: efosd did not serve a new index after SIGHUP: $(tail -c +"$((pos + 1))" "$T_LOG" | grep 'SP metadata' | grep -v '"level":"info"' | head -2 | cut -c1-300)"
		return 1
	fi
	[ -n "$ll" ] || { echo "note metadata: the load generator failed: $(head -2 "$W/logins.err" | tr '\n' ' ')"; return 1; }
	secs=$(jnum "$line" seconds)
	ld=$(loaded_line "$pos")
	local peak; peak=$(sort -n "$W/rss-samples" | tail -1)
	peak=$(awk -v a="${hwm:-0}" -v b="${peak:-0}" 'BEGIN { printf "%.1f", (a > b ? a : b) }')
	# logins inside the refresh window [SIGHUP, SIGHUP + seconds], before it (same run) and after it
	local win; win=$(awk -v a="$t_hup" -v s="$secs" -v w0="$warm" '
		NR == 1 { t0 = $1 + w0 }
		{ t = $1 + 0.05 }   # the middle of the 0.1 s slice
		t >= t0 && t < a { bo += $2; bt += 0.1 }
		t >= a && t < a + s { wo += $2; we += $3; wt += 0.1 }
		t >= a + s { ao += $2; ae += $3 }
		END { printf "%.1f %d %.1f %d %d %.1f", (wt > 0 ? wo / wt : 0), we, (bt > 0 ? bo / bt : 0), ao, ae, wt }' "$tl")
	set -- $win
	echo "result bench=metadata case=refresh_inside_efosd_while_logins_run_(concurrency_16) value=$secs unit=s" \
		"entities=$(jnum "$line" entities) verify_index_s=$(jnum "$ld" seconds) download_s=$(jnum "$ld" download_seconds)" \
		"peak_rss_MB=$peak rss_before_MB=$rss0 rss_after_MB=$rss1 peak_over_before_MB=$(awk -v a="$peak" -v b="$rss0" 'BEGIN { printf "%.1f", a - b }')" \
		"logins/s_in_refresh=$1 logins/s_before=$3 logins_after_refresh=$4 login_errors=$(bench_field "$ll" errors)" \
		"logins/s_whole_run=$(bench_field "$ll" ops_per_s) target=<3_s,<300_MB"
	[ "$(bench_field "$ll" errors)" = 0 ] || echo "note metadata: login errors during the refresh: $(head -2 "$W/logins.err" | tr '\n' ' ' | cut -c1-300)"
	[ "$4" -gt 0 ] || echo "note metadata: no login ended after the new index served (the load was shorter than the refresh)"
}

if bench_env_up; then
	md_in_efosd
else
	echo "note metadata: the rows inside efosd were skipped: the benchmark efosd could not be set up"
fi
rm -f "$W/agg.xml"
echo "note metadata: wall-clock seconds on a shared machine are inflated by other programs: cpu_s is the work itself; peak_rss_MB is the tool's VmHWM during the parse (the 36 MB document included); rss_with_batch_MB what stays held afterwards (the document buffer + the index)"
echo "note metadata: inside efosd: seconds from SIGHUP (the start of the refresh round) until the new index serves, from efosd's log (download, verify + index, index built and swapped; the last good copy is written after); peak_rss_MB is efosd's VmHWM after a reset just before the refresh (and VmRSS every 50 ms), the login load's memory included; logins/s_in_refresh counts the logins that ended inside that window"
