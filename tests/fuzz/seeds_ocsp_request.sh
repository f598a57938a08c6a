#!/usr/bin/env bash
# Writes OCSP request seeds for fuzz_ocsp_request into tests/fuzz/corpus/fuzz_ocsp_request/
# (or DIR): `openssl ocsp -reqout` requests for the CA certificates embedded in
# fuzz_ocsp_request.c (ca1: the card CA, ca2: the sign CA) and for a CA that is not ours,
# each prefixed with the target's mode byte (0: POST body, 2: the second responder,
# 1: GET path form). Usage: tests/fuzz/seeds_ocsp_request.sh [DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/corpus/fuzz_ocsp_request}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The n-th PEM block of the C source, its string quoting taken off.
pem() { sed -n 's/^\t"\(.*\)\\n"[;]*$/\1/p' "$here/fuzz_ocsp_request.c" |
	awk -v n="$1" '/BEGIN CERT/{k++} k==n{print} /END CERT/&&k==n{exit}'; }
pem 1 >"$tmp/ca1.pem"; pem 2 >"$tmp/ca2.pem"; pem 3 >"$tmp/other.pem"
mkdir -p "$out"
req() {  # NAME MODE openssl-ocsp-args...
	local name=$1 mode=$2; shift 2
	openssl ocsp "$@" -reqout "$tmp/r.der" >/dev/null
	{ printf "\\x$mode"; cat "$tmp/r.der"; } >"$out/$name"
}
req gen_sha1_nononce 00 -issuer "$tmp/ca1.pem" -serial 0x4a1b2c3d4e5f60718293a4b5c6d7e8f91 -no_nonce
req gen_sha256_nonce 00 -sha256 -issuer "$tmp/ca1.pem" -serial 1 -serial 2 -nonce
req gen_two_cas 00 -issuer "$tmp/ca1.pem" -serial 5 -issuer "$tmp/ca2.pem" -serial 7 -no_nonce
req gen_r1_two_cas 02 -sha512 -issuer "$tmp/ca2.pem" -serial 7 -issuer "$tmp/ca1.pem" -serial 5 -no_nonce
req gen_not_ours 00 -issuer "$tmp/other.pem" -serial 9 -no_nonce
openssl ocsp -sha384 -issuer "$tmp/ca2.pem" -serial 12345 -no_nonce -reqout "$tmp/r.der" >/dev/null
{ printf '\x01'; base64 -w0 "$tmp/r.der" | tr '+/' '-_' | tr -d '='; } >"$out/gen_get_urlsafe"
ls "$out" | wc -l
