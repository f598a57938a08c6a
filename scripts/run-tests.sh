#!/usr/bin/env bash
# Runs every test and ends with the line "N passed, N failed".
# Unit tests: build*/tests/test_* (cmocka, TAP output). Integration tests: tests/integration/t_*.sh,
# each printing TAP-style "ok - name" / "not ok - name" lines against a real efosd, PostgreSQL
# and SoftHSM that they start through tests/integration/lib.sh.
# Filter with TESTS='pattern' (a shell glob on the test file name).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
BUILD=${BUILD:-build}
BINDIR=${BINDIR:-bin}
export EFOS_BIN=$top/$BINDIR EFOS_BUILD=$top/$BUILD EFOS_TOP=$top
if [ "${SANITIZE:-0}" = 1 ]; then
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_odr_violation=0}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
	export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$top/tests/lsan.supp:print_suppressions=0}
fi
# One run at a time per tree: a second `make check` in the same checkout would tear down the
# first one's PostgreSQL and results. It waits here instead.
mkdir -p "$top/var"
exec 8>"$top/var/.test.lock"
if ! flock -n 8; then
	echo "another test run is using $top/var/test: waiting for it to finish"
	flock 8
fi
results=$top/var/test-results
rm -rf "$results"; mkdir -p "$results"

# The environment is reused when it is already up (several developers' test runs may share it);
# EFOS_TEST_FRESH=1 starts from nothing (CI's clean clone always does).
[ "${EFOS_TEST_FRESH:-0}" = 1 ] && scripts/testenv.sh down "$top/var/test" >/dev/null 2>&1 8>&-
envfile=$(scripts/testenv.sh up "$top/var/test" 8>&-) || { echo "test environment failed to start"; echo "0 passed, 1 failed"; exit 1; }
. "$envfile"

pass=0; fail=0; failed=()
run_one() {   # name, command...
	local name=$1; shift
	local out=$results/$name.log
	if [ -n "${TESTS:-}" ]; then case $name in $TESTS) ;; *) return;; esac; fi
	echo "== $name"
	timeout "${TEST_TIMEOUT:-600}" "$@" >"$out" 2>&1 8>&-
	local rc=$?
	local p f
	p=$(grep -cE '^ok ' "$out"); f=$(grep -cE '^not ok ' "$out")
	grep -E '^(not )?ok ' "$out" | sed 's/^/   /'
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1; echo "   not ok - $name exited with status $rc"
	fi
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		f=1; echo "   not ok - $name reported no results"
	fi
	pass=$((pass + p)); fail=$((fail + f))
	if [ "$f" -gt 0 ]; then failed+=("$name"); echo "   --- last lines of $out:"; tail -25 "$out" | sed 's/^/   | /'; fi
}

for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	CMOCKA_MESSAGE_OUTPUT=TAP run_one "$(basename "$t")" "$t"
done
for t in tests/integration/t_*.sh; do
	[ -f "$t" ] || continue
	run_one "$(basename "$t" .sh)" bash "$t"
done

if [ ${#failed[@]} -gt 0 ]; then
	echo "failing: ${failed[*]}"
	echo "server logs: $results/ and var/test/*/efosd.log"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
