#!/usr/bin/env bash
# `make bench`: measures, on this machine and in this run, the raw signing limit first, then every
# other benchmark, each reported as a ratio of the matching limit; writes bench/results/latest.md
# (date, CPU, cores, software versions, tables) and bench/results/limits.env. No benchmark is a
# test: nothing here asserts a time. See docs/performance.md and bench/README.md.
#
#   scripts/run-bench.sh                 everything (make bench sets BUILD and BINDIR)
#   EFOS_BENCH_ONLY='sign_limit' ...     only benchmarks whose name matches the glob
#   EFOS_BENCH_DURATION=1 ...            seconds per cell (the limit bench; others may honour it)
#   EFOS_BENCH_KEEP=1 ...                leave the environment (var/bench) running afterwards
#   EFOS_BENCH_RESULTS_DIR=DIR ...       write the report there instead of bench/results (the smoke test)
#   EFOS_BENCH_PG_DURABLE=1 ...          PostgreSQL with fsync and synchronous_commit on (production-like)
#
# Benchmarks after the limit: every executable $BUILD/bench/bench_* and every bench/*.sh, in name
# order. They run with the LIMIT_* variables of limits.env in their environment (and
# EFOS_BENCH_LIMITS naming the file, EFOS_BENCH_ENV the test-environment file, EFOS_BENCH_LIB this
# script) and report by printing lines such as
#   result bench=logins case=c16 value=1234.5 unit=logins/s limit=RSA2048_T2 p99_ms=9.1 errors=0
# Each becomes a table row with its ratio to the named limit; a line "note TEXT" becomes a bullet
# under the table (say what a row skipped and why, e.g. a peer that could not be installed). A shell benchmark may instead
# `. "$EFOS_BENCH_LIB" --lib` and call bench_ratio / bench_limit itself.
#
# Sourced with --lib it only defines the helpers (bench_limit, bench_ratio, bench_result_row).

# ---- helpers (also for later benchmarks) ----

# bench_limit KEY: the limit named KEY (with or without the LIMIT_ prefix), in signatures/s,
# from the environment or limits.env; empty when that cell was not measured.
bench_limit() {
	local key=${1#LIMIT_} v
	key=LIMIT_$key
	v=${!key:-}
	if [ -z "$v" ] && [ -f "${EFOS_BENCH_LIMITS:-}" ]; then
		v=$(sed -n "s/^$key=//p" "$EFOS_BENCH_LIMITS" | tail -1)
	fi
	printf '%s' "$v"
}

# bench_ratio VALUE KEY: VALUE as a percentage of the limit KEY ("62 %"), or "n/a".
bench_ratio() {
	local lim
	lim=$(bench_limit "$2")
	if [ -z "$lim" ] || [ "$lim" = 0 ]; then printf 'n/a'; return; fi
	awk -v v="$1" -v l="$lim" 'BEGIN { printf "%.0f %%", 100 * v / l }'
}

# bench_fmt N: 1234567.8 -> 1,234,568 (numbers that are not plain decimals pass unchanged).
bench_fmt() {
	awk -v n="$1" 'BEGIN {
		if (n !~ /^-?[0-9]+(\.[0-9]+)?$/) { printf "%s", n; exit }
		if (n + 0 < 100 && n != int(n)) { printf "%.1f", n; exit }
		s = sprintf("%.0f", n); neg = ""; if (substr(s, 1, 1) == "-") { neg = "-"; s = substr(s, 2) }
		o = ""; while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) }
		printf "%s%s%s", neg, s, o }'
}

# bench_result_row LINE: a "result k=v ..." line -> a Markdown row
# | bench | case | value | limit | ratio | other fields |
bench_result_row() {
	local line=$1 kv k v bench="" case="" value="" unit="" limit="" rest=""
	for kv in ${line#result }; do
		k=${kv%%=*}; v=${kv#*=}
		case $k in
		bench) bench=$v;; case) case=${v//_/ };; value) value=$v;; unit) unit=$v;;
		limit) limit=${v#LIMIT_};;
		*) rest+="${rest:+, }$k=$v";;
		esac
	done
	local lim ratio limcell
	lim=$(bench_limit "$limit")
	ratio=$(bench_ratio "$value" "$limit")
	if [ -n "$limit" ]; then
		limcell="$limit${lim:+ ($(bench_fmt "$lim")/s)}"
	else
		limcell="–"; ratio="–"
	fi
	printf '| %s | %s | %s %s | %s | %s | %s |\n' "$bench" "$case" "$(bench_fmt "$value")" "$unit" \
		"$limcell" "$ratio" "${rest:-}"
}

if [ "${1:-}" = --lib ]; then
	return 0 2>/dev/null || exit 0
fi

# ---- the run ----

set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
BUILD=${BUILD:-build}
BINDIR=${BINDIR:-bin}
results=${EFOS_BENCH_RESULTS_DIR:-$top/bench/results}
raw=$results/raw
benchdir=${EFOS_BENCH_DIR:-$top/var/bench}
mkdir -p "$raw"
rm -f "$raw"/*.out
export EFOS_BENCH_LIB=$top/scripts/run-bench.sh
export EFOS_BENCH_LIMITS=$results/limits.env EFOS_BENCH_RESULTS=$results
export EFOS_BIN=$top/$BINDIR EFOS_BUILD=$top/$BUILD EFOS_TOP=$top

say() { printf '%s\n' "$*" >&2; }

limit_bin=$BUILD/bench/bench_sign_limit
if [ ! -x "$limit_bin" ]; then
	say "run-bench: $limit_bin is missing; run 'make bench' (it builds it first)"
	exit 2
fi

# The environment: SoftHSM token (and the throwaway PostgreSQL that later benchmarks use), on its
# own directory and port so it never collides with a `make check` running at the same time.
export EFOS_TEST_PGPORT=${EFOS_BENCH_PGPORT:-55442}
scripts/testenv.sh down "$benchdir" >/dev/null 2>&1
envfile=$(scripts/testenv.sh up "$benchdir") || { say "run-bench: the benchmark environment (scripts/testenv.sh up $benchdir) failed to start"; exit 2; }
# shellcheck disable=SC1090
. "$envfile"
export EFOS_BENCH_ENV=$envfile
# The tests' cluster runs with fsync and synchronous_commit off; EFOS_BENCH_PG_DURABLE=1 turns both
# on, as in production, so every commit waits for its WAL flush (the header says which was used).
# (ALTER SYSTEM outlives the run in the cluster's directory, so the default resets it.)
if [ "${EFOS_BENCH_PG_DURABLE:-0}" = 1 ]; then
	pg_set=("ALTER SYSTEM SET fsync = on" "ALTER SYSTEM SET synchronous_commit = on")
else
	pg_set=("ALTER SYSTEM RESET fsync" "ALTER SYSTEM RESET synchronous_commit")
fi
psql "$EFOS_TEST_PG_SUPER" -Xq -c "${pg_set[0]}" -c "${pg_set[1]}" -c "SELECT pg_reload_conf()" >/dev/null ||
	{ say "run-bench: could not set the benchmark PostgreSQL's durability (${pg_set[*]})"; exit 2; }
export EFOS_BENCH_HSM_MODULE=${EFOS_BENCH_HSM_MODULE:-$EFOS_TEST_HSM_MODULE}
export EFOS_BENCH_HSM_TOKEN=${EFOS_BENCH_HSM_TOKEN:-$EFOS_TEST_HSM_TOKEN}
export EFOS_BENCH_HSM_PIN=${EFOS_BENCH_HSM_PIN:-$EFOS_TEST_HSM_PIN}
cleanup() {
	if [ "${EFOS_BENCH_KEEP:-0}" != 1 ]; then
		# the efosd (and peers) that the rows share (bench/lib-bench.sh)
		local p pid pids=() i
		for p in "$benchdir"/*/efosd.pid "$benchdir"/*/run/httpd.pid; do
			[ -s "$p" ] || continue
			pid=$(cat "$p")
			kill "$pid" 2>/dev/null && pids+=("$pid")
		done
		# before PostgreSQL goes away: wait for them (10 s), then SIGKILL what is left
		for i in $(seq 1 50); do
			pid=
			for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && break; pid=; done
			[ -z "${pid:-}" ] && break
			sleep 0.2
		done
		for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
		scripts/testenv.sh down "$benchdir" >/dev/null 2>&1
	else
		say "run-bench: environment left running: . $envfile"
	fi
}
trap cleanup EXIT

# ---- the machine and the software ----

cpu_model=$(LC_ALL=C lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
[ -n "$cpu_model" ] || cpu_model=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -1)
cpus=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)
cores_per_socket=$(LC_ALL=C lscpu 2>/dev/null | sed -n 's/^Core(s) per socket:[[:space:]]*//p' | head -1)
sockets=$(LC_ALL=C lscpu 2>/dev/null | sed -n 's/^Socket(s):[[:space:]]*//p' | head -1)
tpc=$(LC_ALL=C lscpu 2>/dev/null | sed -n 's/^Thread(s) per core:[[:space:]]*//p' | head -1)
hyper=$(LC_ALL=C lscpu 2>/dev/null | sed -n 's/^Hypervisor vendor:[[:space:]]*//p' | head -1)
cores_line="$cpus CPUs online"
if [ -n "$cores_per_socket" ] && [ -n "$sockets" ]; then
	cores_line+=" ($((cores_per_socket * sockets)) cores × ${tpc:-1} thread(s) per core)"
fi
[ -n "$hyper" ] && cores_line+=", virtual machine ($hyper)"
mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null)
os=$( (. /etc/os-release 2>/dev/null && printf '%s' "${PRETTY_NAME:-}") )
[ -f /etc/debian_version ] && os+=" ($(cat /etc/debian_version))"

first_line() { "$@" 2>/dev/null | head -1; }
pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null; }
v_softhsm=$(first_line softhsm2-util --version)
v_openssl=$(first_line openssl version)
v_xmlsec=$(pkg-config --modversion xmlsec1 2>/dev/null || first_line xmlsec1 --version)
v_libxml=$(pkg-config --modversion libxml-2.0 2>/dev/null)
v_mhd=$(pkg-config --modversion libmicrohttpd 2>/dev/null)
v_pg=$(first_line "${PGBIN:-/usr/lib/postgresql/15/bin}/postgres" --version)
v_cc=$(first_line "${CC:-cc}" --version)
v_p11=$(pkgver libp11-3)
# the benchmark database is the tests' throwaway cluster (scripts/testenv.sh): say how durable
pg_durability=$(psql "${EFOS_TEST_PG_SUPER:-}" -XqAt -c "SELECT 'fsync=' || current_setting('fsync') || ', synchronous_commit=' || current_setting('synchronous_commit')" 2>/dev/null)
pg_durability=${pg_durability:-durability settings unknown}
git_rev=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$top" diff --quiet HEAD 2>/dev/null || git_rev+=" (with uncommitted changes)"

# ---- 1. the limit ----

load_before=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)
say "run-bench: 1. the signing limit (${EFOS_BENCH_DURATION:-3} s per cell)"
limit_out=$raw/sign_limit.out
"$limit_bin" | tee "$limit_out"
limit_rc=${PIPESTATUS[0]}
load_after=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)
if [ "$limit_rc" -eq 2 ] || ! grep -q '^limit ' "$limit_out"; then
	say "run-bench: the limit benchmark could not run (status $limit_rc); nothing written"
	exit 2
fi
# A cross-check that does not involve EFOS at all: OpenSSL's own single-core figure. When it is
# far from the "(c) in memory" row, the machine was busy or throttled during the run.
speed=""
if [ "${EFOS_BENCH_SPEED:-1}" = 1 ] && command -v openssl >/dev/null; then
	s_rsa=$(openssl speed -seconds 1 rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ { print $(NF-1) }')
	s_ec=$(openssl speed -seconds 1 ecdsap256 2>/dev/null | awk '/ecdsa \(nistp256\)/ { print $(NF-1) }')
	[ -n "$s_rsa$s_ec" ] && speed="RSA-2048 $(bench_fmt "${s_rsa:-0}") sign/s, ECDSA P-256 $(bench_fmt "${s_ec:-0}") sign/s"
fi

{
	echo "# Signing limits measured by scripts/run-bench.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "# LIMIT_<PATH>_<ALG>_T<threads>=signatures per second; LIMIT_<ALG>_T<n> = the OpenSSL bridge (evp-hsm)."
	awk '/^limit / {
		for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		key = "LIMIT_" toupper(f["path"]) "_" toupper(f["alg"]) "_T" f["threads"]
		gsub(/-/, "_", key)
		if (f["errors"] + 0 > 0) { print "# " key ": failed (errors=" f["errors"] ")"; next }
		print key "=" f["ops_per_s"]
		if (f["path"] == "evp-hsm") print "LIMIT_" toupper(f["alg"]) "_T" f["threads"] "=" f["ops_per_s"]
	}' "$limit_out"
} >"$EFOS_BENCH_LIMITS.tmp" && mv "$EFOS_BENCH_LIMITS.tmp" "$EFOS_BENCH_LIMITS"
set -a
# shellcheck disable=SC1090
. "$EFOS_BENCH_LIMITS"
set +a

report=$results/latest.md.tmp
{
	echo "# EFOS benchmark results"
	echo
	echo "Written by \`make bench\` (scripts/run-bench.sh). Benchmarks are measurements, not tests:"
	echo "nothing here passes or fails on a time. How to read them: docs/performance.md."
	echo
	echo "| | |"
	echo "|---|---|"
	echo "| date | $(date -u '+%Y-%m-%d %H:%M:%S UTC') |"
	echo "| commit | $git_rev |"
	echo "| CPU | ${cpu_model:-unknown} |"
	echo "| cores | $cores_line |"
	echo "| memory | ${mem:-unknown} |"
	echo "| load average (1, 5, 15 min) | before the limit: ${load_before:-?}; after: ${load_after:-?} |"
	echo "| OS | ${os:-unknown}, kernel $(uname -r) |"
	echo "| SoftHSM | ${v_softhsm:-not found} |"
	echo "| OpenSSL | ${v_openssl:-not found} |"
	echo "| xmlsec1 | ${v_xmlsec:-not found} (libxml2 ${v_libxml:-?}) |"
	echo "| libmicrohttpd | ${v_mhd:-not found} |"
	echo "| PostgreSQL | ${v_pg:-not found}; $pg_durability |"
	echo "| compiler | ${v_cc:-unknown} |"
	[ -n "$speed" ] && echo "| \`openssl speed\`, 1 core | $speed |"
	[ -n "$v_p11" ] && echo "| libp11 | $v_p11 |"
	echo
	echo "## 1. The limit: signatures per second"
	echo
	echo "Session keys generated in the SoftHSM token at start; a warm-up before each timed cell;"
	echo "each cell is every thread signing as fast as it can. (a) the HSM alone through hsm/,"
	echo "(b) the bridges that the protocol code uses, (c) OpenSSL with the key in memory (no HSM)."
	echo "The xmlsec rows sign a fresh copy of a ~4.6 KB SAML assertion (enveloped signature, exc-c14n)."
	echo
	sed -n '/^| path /,$p' "$limit_out"
	if [ "$limit_rc" -ne 0 ]; then
		echo
		echo "**Some paths failed in this run** (\`errors=\` in bench/results/raw/sign_limit.out);"
		echo "their cells are not limits."
	fi
	echo
	echo "Every later row divides by one of these. The default limit for a key type and thread count"
	echo "is the OpenSSL-bridge row (\`LIMIT_RSA2048_T2\` etc. in bench/results/limits.env)."
} >"$report"

# ---- 2.. the other benchmarks, as ratios of the limit ----

others=()
for b in "$BUILD"/bench/bench_* bench/*.sh; do
	[ -e "$b" ] || continue
	name=$(basename "$b"); name=${name%.sh}; name=${name#bench_}; name=${name#[0-9]-}
	[ "$name" = sign_limit ] && continue
	case $name in lib-*) continue;; esac   # bench/lib-bench.sh: the rows' shared helpers
	case $name in *.o|*.d) continue;; esac
	[ -x "$b" ] || [ "${b%.sh}" != "$b" ] || continue
	# shellcheck disable=SC2254 # EFOS_BENCH_ONLY is a glob on purpose
	if [ -n "${EFOS_BENCH_ONLY:-}" ]; then case $name in $EFOS_BENCH_ONLY) ;; *) continue;; esac; fi
	others+=("$b")
done
section=2
other_failed=0
for b in "${others[@]}"; do
	name=$(basename "$b"); name=${name%.sh}; name=${name#bench_}; name=${name#[0-9]-}
	out=$raw/$name.out
	say "run-bench: $section. $name"
	if [ "${b%.sh}" != "$b" ]; then bash "$b" | tee "$out"; else "$b" | tee "$out"; fi
	rc=${PIPESTATUS[0]}
	{
		echo
		echo "## $section. $name"
		echo
		if grep -q '^result ' "$out"; then
			echo "| benchmark | case | measured | limit | ratio to limit | details |"
			echo "|---|---|---:|---|---:|---|"
			grep '^result ' "$out" | while IFS= read -r line; do bench_result_row "$line"; done
		fi
		grep '^note ' "$out" | sed 's/^note /- /'
		if [ "$rc" -ne 0 ]; then
			echo
			echo "**$name exited with status $rc**; its output: bench/results/raw/$name.out"
		fi
	} >>"$report"
	[ "$rc" -eq 0 ] || other_failed=1
	section=$((section + 1))
done

mv "$report" "$results/latest.md"
say "run-bench: wrote $results/latest.md and $EFOS_BENCH_LIMITS"
echo
cat "$results/latest.md"
[ "$limit_rc" -eq 0 ] && [ "$other_failed" -eq 0 ]
