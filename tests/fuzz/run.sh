#!/usr/bin/env bash
# Runs libFuzzer targets for SECONDS each and prints one TAP line per target:
#   tests/fuzz/run.sh SECONDS build-fuzz/fuzz_X...
# Seeds: tests/fuzz/corpus/fuzz_X/ (read only). What the fuzzer finds is kept in
# build-fuzz/corpus/fuzz_X/ for the next run; crashes in build-fuzz/artifacts/fuzz_X/,
# the log in build-fuzz/fuzz_X.log. Reproduce a crash: build-fuzz/fuzz_X ARTIFACT.
set -uo pipefail
[ $# -ge 1 ] || { echo "usage: $0 SECONDS TARGET..." >&2; exit 2; }
secs=$1; shift
top=$(cd "$(dirname "$0")/../.." && pwd)
fail=0
for bin in "$@"; do
	name=$(basename "$bin")
	corpus=$top/build-fuzz/corpus/$name
	seeds=$top/tests/fuzz/corpus/$name
	artifacts=$top/build-fuzz/artifacts/$name/
	log=$top/build-fuzz/$name.log
	mkdir -p "$corpus" "$artifacts" "$seeds"
	dict=()
	[ -f "$top/tests/fuzz/$name.dict" ] && dict=(-dict="$top/tests/fuzz/$name.dict")
	if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
		-print_final_stats=1 -artifact_prefix="$artifacts" "${dict[@]}" "$corpus" "$seeds" >"$log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
		echo "ok - $name ${secs}s no crash"
		echo "# $name: ${runs:-?} runs, corpus $(ls "$corpus" | wc -l) inputs"
	else
		echo "not ok - $name: crash or failure, see $log and $artifacts"
		tail -40 "$log" | sed 's/^/# /'
		fail=1
	fi
done
exit $fail
