#!/usr/bin/env bash
# A short libFuzzer run of every tests/fuzz/fuzz_*.c target (FUZZ_SMOKE_SECONDS each, default 8:
# about a minute for the every target) so that `make check` catches a parser crash early;
# `make fuzz` runs them longer.
# Needs clang and libclang-rt-14-dev (scripts/install-deps.sh installs them).
set -uo pipefail
top=${EFOS_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$top" || exit 1
secs=${FUZZ_SMOKE_SECONDS:-8}
if ! command -v "${FUZZ_CC:-clang}" >/dev/null 2>&1; then
	echo "not ok - fuzz_smoke: ${FUZZ_CC:-clang} is not installed (run scripts/install-deps.sh)"
	exit 1
fi
mkdir -p build-fuzz
# A make of its own: not the jobserver of the `make check` that started us.
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s fuzz-build >build-fuzz/build.log 2>&1; then
	echo "not ok - fuzz_smoke: building the fuzz targets failed"
	tail -30 build-fuzz/build.log | sed 's/^/# /'
	exit 1
fi
targets=()
for src in tests/fuzz/fuzz_*.c; do
	[ -f "$src" ] && targets+=("build-fuzz/$(basename "$src" .c)")
done
[ ${#targets[@]} -gt 0 ] || { echo "not ok - fuzz_smoke: no targets in tests/fuzz/"; exit 1; }
tests/fuzz/run.sh "$secs" "${targets[@]}"
