#!/usr/bin/env bash
# Row group 7, footprint (bench/README.md): efosd's resident memory (VmRSS) idle (measured by
# bench/lib-bench.sh right after start, before any load), under the SSO login load at
# concurrency 64 (the peak of samples every 0.5 s) and after a long run of logins:
# 100,000 at full length (EFOS_BENCH_SECONDS=30), scaled down with shorter runs.
. "$EFOS_TOP/bench/lib-bench.sh"
bench_env_up || { echo "note footprint skipped: the benchmark efosd could not be set up"; exit 1; }
pid=$(cat "$T/efosd.pid")
idle=$(cat "$T/rss-idle" 2>/dev/null)
echo "result bench=footprint case=idle_(after_start) value=${idle:-0} unit=MB target=<30_MB threads=$(ls /proc/$pid/task 2>/dev/null | wc -l)"
total=$(awk -v s="$(bench_seconds)" 'BEGIN { n = int(100000 * s / 30); if (n < 500) n = 500; print n }')
reqs=$T/authnreqs-footprint.txt
bench_authnreqs "$total" "$reqs" || { echo "note footprint: generating AuthnRequests failed"; exit 1; }
peak=0
(
	while kill -0 "$pid" 2>/dev/null; do bench_rss "$pid"; echo; sleep 0.5; done
) >"$T/rss-samples" &
sampler=$!
# no time limit: the run ends when the requests do
line=$("$LOADGEN" --cacert "$T_TLS/ca.crt" --warmup 0 --duration 100000 --urls "$reqs" --cookie "$BENCH_SSO_COOKIE" \
	--follow 3 --expect 'name="SAMLResponse"' --concurrency 64 2>"$T/footprint.err")
kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
rm -f "$reqs"
peak=$(sort -n "$T/rss-samples" | tail -1)
sleep 2
after=$(bench_rss "$pid")
echo "result bench=footprint case=under_login_load_(concurrency_64,_peak) value=${peak:-0} unit=MB logins/s=$(bench_field "$line" ops_per_s)"
echo "result bench=footprint case=after_$(bench_field "$line" ok)_logins value=${after:-0} unit=MB errors=$(bench_field "$line" errors) peak_hwm_MB=$(bench_hwm "$pid")"
[ -n "$line" ] || { echo "note footprint: the load generator failed: $(head -2 "$T/footprint.err" | tr '\n' ' ')"; exit 1; }
echo "note footprint: VmRSS of efosd from /proc; the efosd of the other rows, so 'after' also holds what they left"
