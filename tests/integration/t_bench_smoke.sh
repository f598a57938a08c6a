#!/usr/bin/env bash
# `make bench` works: scripts/run-bench.sh runs in its quick form (short cells, a 1,000-SP
# aggregate) on its own environment (SoftHSM token, PostgreSQL) under this test's scratch
# directory, exits 0, and writes a report with every row of bench/README.md, each with its
# measured value, its limit and its ratio, and 0 errors. Nothing here looks at how fast anything
# is: a benchmark is a measurement, not a test (issue 6); the numbers of a run this short on a
# machine that is busy with the tests mean nothing.
. "$(dirname "$0")/lib.sh"
t_init t_bench_smoke

B=$T/bench          # the benchmark environment (EFOS_BENCH_DIR)
R=$T/results        # the report (EFOS_BENCH_RESULTS_DIR)
t_on_exit "for p in $B/*/efosd.pid $B/*/run/httpd.pid; do [ -s \"\$p\" ] && kill \$(cat \"\$p\") 2>/dev/null; done; \"$EFOS_TOP/scripts/testenv.sh\" down $B >/dev/null 2>&1"

# the allocation-counting shim is preloaded into efosd; under the sanitizers ASan's runtime must
# come first, so that build counts no allocations
count_allocs=1
case $EFOS_BIN in *-san) count_allocs=0;; esac
bench_port=$(free_port)
(
	cd "$EFOS_TOP" &&
	env -u EFOS_TEST_ENV BUILD="$(basename "$EFOS_BUILD")" BINDIR="$(basename "$EFOS_BIN")" \
		EFOS_BENCH_DIR="$B" EFOS_BENCH_RESULTS_DIR="$R" EFOS_BENCH_PGPORT="$bench_port" \
		EFOS_BENCH_DURATION=0.5 EFOS_BENCH_WARMUP=0.2 EFOS_BENCH_SPEED=0 EFOS_BENCH_SECONDS=2 \
		EFOS_BENCH_MD_ENTITIES=1000 EFOS_BENCH_COUNT_ALLOCS=$count_allocs \
		scripts/run-bench.sh
) >"$T/bench.log" 2>&1
rc=$?
T_LOG=$T/bench.log
expect_eq "scripts/run-bench.sh (make bench) exits 0" "$rc" 0
[ -s "$R/latest.md" ] || { fail "the report latest.md is written"; t_done; }
ok "the report latest.md is written"
report=$(cat "$R/latest.md")
T_LOG=$R/latest.md

# ---- the header: the machine and the software ----
for k in date commit CPU cores memory OS SoftHSM OpenSSL xmlsec1 PostgreSQL compiler; do
	expect_match "header: $k" "$report" "^\\| $k \\| [^|]*[[:alnum:]]"
done
if grep -q "exited with status" <<<"$report"; then fail "no row group exited with an error" "$(grep "exited with status" <<<"$report")"
else ok "no row group exited with an error"; fi

# ---- 1. the limit: every path × algorithm measured at 1 and 2 threads, and limits.env ----
num='[0-9][0-9,]*(\.[0-9]+)?'
for path in 'hsm/ → PKCS#11' 'OpenSSL bridge' 'xmlsec bridge' 'OpenSSL, key in memory' 'xmlsec, key in memory'; do
	for alg in RSA-2048 RSA-3072 'ECDSA P-256'; do
		line=$(grep -F -- "$path" <<<"$report" | grep -F "| $alg |" | head -1)
		expect_match "limit: $path, $alg, 1 and 2 threads" "$line" "\\| $alg \\| $num( †)? \\| $num( †)? \\|"
	done
done
for k in RSA2048_T1 RSA2048_T2 RSA3072_T1 RSA3072_T2 P256_T1 P256_T2 XMLDSIG_HSM_RSA2048_T1 XMLDSIG_HSM_RSA2048_T2; do
	expect_match "limits.env: LIMIT_$k" "$(cat "$R/limits.env")" "^LIMIT_$k=[0-9.]+$"
done

# row_line BENCH CASE-ERE: the report's row for that benchmark and case (empty when none)
row_line() { grep -E -- "^\\| $1 \\| $2 \\|" <<<"$report" | head -1; }
# row_name BENCH CASE-ERE: how a check names it ("logins | card login per request, concurrency N")
row_name() { printf '%s | %s' "$1" "$(sed -e 's/ \[^|\]\*//g' -e 's/\[0-9\]+/N/g' -e 's/\\//g' <<<"$2")"; }

# row BENCH CASE-ERE: the row, whose measured value must be a positive number, whose ratio to its
# limit is printed, and whose errors (when it counts them) are 0
row() {
	local name line errs=""
	name=$(row_name "$1" "$2"); line=$(row_line "$1" "$2")
	if [ -z "$line" ]; then fail "row: $name" "no such row in the report"; return; fi
	if ! grep -qE "^\\| [^|]+ \\| [^|]+ \\| $num [^|]+ \\| [A-Z0-9_]+ \\($num/s\\) \\| [0-9]+ % \\|" <<<"$line"; then
		fail "row: $name, with its value, limit and ratio" "$line"; return; fi
	if grep -qE '\| 0 [a-z]' <<<"$line"; then fail "row: $name measured nothing" "$line"; return; fi
	if grep -q 'errors=' <<<"$line"; then
		grep -qE '(^|[ |,])errors=0(,| |$)' <<<"$line" || { fail "row: $name, 0 errors" "$line"; return; }
		errs=", 0 errors"
	fi
	ok "row: $name: value, limit, ratio$errs"
}
# row_target BENCH CASE-ERE: a row measured against a target instead of a limit
row_target() {
	local name line
	name=$(row_name "$1" "$2"); line=$(row_line "$1" "$2")
	if grep -qE "^\\| [^|]+ \\| [^|]+ \\| $num [^|]+ \\| – \\| – \\| .*target=" <<<"$line"; then ok "row: $name: value and target"
	else fail "row: $name: value and target" "${line:-no such row in the report}"; fi
}

# ---- 2. logins ----
for c in 1 16 64; do row logins "SSO session, concurrency $c"; done
row logins "card login per request, concurrency [0-9]+"
expect_match "logins: the work per login (SQL statements, signatures)" "$report" \
	'^- logins, work per login .*[0-9.]+ SQL statements'
if [ "$count_allocs" = 1 ]; then
	expect_match "logins: the allocations per login" "$report" '^- logins, work per login .*[0-9]+ heap allocations'
fi

# ---- 3. the peer: three rows with EFOS / SimpleSAMLphp, or a clear skip ----
if grep -q '^- SimpleSAMLphp peer skipped: ' <<<"$report"; then
	ok "peer: skipped with its reason: $(sed -n 's/^- SimpleSAMLphp peer skipped: //p' <<<"$report" | head -1 | cut -c1-200)"
else
	for c in 1 16 64; do
		row peer "SimpleSAMLphp, concurrency $c"
		expect_match "peer: EFOS / SimpleSAMLphp at concurrency $c" \
			"$(row_line peer "SimpleSAMLphp, concurrency $c")" 'EFOS/SimpleSAMLphp=[0-9.]+x'
	done
fi

# ---- 4. signing ----
for r in "CAdES-B 1 KB" "CAdES-B hash-only" "RFC 3161 timestamp" "XAdES-B 4 KB" "PAdES-B 1 MB" \
	"federated RSA-2048" "federated P-256"; do
	row signing "$r"
done

# ---- 5. OCSP ----
row ocsp "with nonce [^|]*"
row ocsp "without nonce [^|]*"

# ---- 6. metadata: the aggregate alone, at efosd's start, refreshed under logins ----
row_target metadata "load 1000 SPs \\(verify \\+ index\\)"
row_target metadata "efosd start: feed of 1000 SPs [^|]*"
row_target metadata "refresh inside efosd while logins run [^|]*"
expect_match "metadata: no login failed during the refresh" \
	"$(row_line metadata "refresh inside efosd while logins run [^|]*")" 'login_errors=0'

# ---- 7. footprint ----
row_target footprint "idle \\(after start\\)"
expect_match "row: footprint | under login load" "$(row_line footprint "under login load[^|]*")" \
	"^\\| footprint \\| under login load [^|]* \\| $num MB \\|"
expect_match "row: footprint | after N logins, 0 errors" "$(row_line footprint "after [0-9]+ logins")" \
	"^\\| footprint \\| after [0-9]+ logins \\| $num MB \\| .*errors=0"
t_done
