#!/usr/bin/env bash
# Row group 4, signing (bench/README.md): the seal API (POST /api/v1/sign on the mTLS listener,
# an API client with an RSA-2048 seal key in the HSM) for CAdES-B of a 1 KB document and for a
# hash-only request; RFC 3161 timestamps (POST /tsa, RSA-2048 TSA key); XAdES-B of a 4 KB XML
# and PAdES-B of a 1 MB PDF when this build's seal API accepts those formats; federated signing
# transactions when POST /sign/request exists. A row whose feature is missing says so (note).
. "$EFOS_TOP/bench/lib-bench.sh"
bench_env_up || { echo "note signing skipped: the benchmark efosd could not be set up"; exit 1; }
BENCH_LOAD_SECONDS=$(bench_short_seconds)
C=${EFOS_BENCH_SIGN_CONCURRENCY:-16}
W=$T/signing
mkdir -p "$W"
status=0

api() {   # JSON-FILE -> status code of one request (body in $W/probe.out)
	curl -s -o "$W/probe.out" -w '%{http_code}' --max-time 30 --cacert "$T_TLS/ca.crt" --cert "$T/api.pem" \
		--key "$T/api.key" -H 'Content-Type: application/json' --data-binary @"$1" "$T_MTLS_URL/api/v1/sign"
}
# row CASE UNIT LIMIT URL BODY CTYPE [loadgen args]: one checked request, then the load
row() {
	local case=$1 unit=$2 lim=$3 url=$4 bodyf=$5 ctype=$6; shift 6
	local line
	line=$(bench_load --url "$url" --method POST --body "$bodyf" --content-type "$ctype" --concurrency "$C" "$@" \
		2>"$W/$case.err")
	if [ -z "$line" ]; then
		echo "note signing $case: the load generator failed: $(head -2 "$W/$case.err" | tr '\n' ' ' | cut -c1-300)"
		status=1; return
	fi
	echo "result bench=signing case=$case value=$(bench_field "$line" ops_per_s) unit=$unit limit=$lim" \
		"p50_ms=$(bench_field "$line" p50_ms) p99_ms=$(bench_field "$line" p99_ms) errors=$(bench_field "$line" errors) concurrency=$C"
	[ "$(bench_field "$line" errors)" = 0 ] || echo "note signing $case: errors: $(head -2 "$W/$case.err" | tr '\n' ' ' | cut -c1-300)"
}
mtls=(--cert "$T/api.pem" --key "$T/api.key")

# ---- CAdES-B, 1 KB document, detached --------------------------------------------------------------
head -c 1024 /dev/urandom >"$W/doc"
printf '{"format":"cades","packaging":"detached","document":"%s","digest_algorithm":"sha256","key":"rsa"}' \
	"$(base64 -w0 "$W/doc")" >"$W/cades.json"
code=$(api "$W/cades.json")
if [ "$code" = 200 ] && grep -q '"signature"' "$W/probe.out"; then
	row CAdES-B_1_KB signatures/s RSA2048_T2 "$T_MTLS_URL/api/v1/sign" "$W/cades.json" application/json \
		"${mtls[@]}" --expect '"signature"'
else
	echo "note signing CAdES-B: the check request failed ($code): $(head -c 200 "$W/probe.out")"; status=1
fi
# ---- hash-only ----------------------------------------------------------------------------------------
printf '{"digest":"%s","digest_algorithm":"sha256","key":"rsa"}' "$(openssl dgst -sha256 -binary "$W/doc" | base64 -w0)" >"$W/hash.json"
code=$(api "$W/hash.json")
if [ "$code" = 200 ]; then
	row CAdES-B_hash-only signatures/s RSA2048_T2 "$T_MTLS_URL/api/v1/sign" "$W/hash.json" application/json \
		"${mtls[@]}" --expect '"signature"'
else
	echo "note signing hash-only: the check request failed ($code): $(head -c 200 "$W/probe.out")"; status=1
fi
# ---- RFC 3161 timestamps --------------------------------------------------------------------------------
openssl ts -query -data "$W/doc" -sha256 -cert -out "$W/q.tsq" 2>/dev/null
code=$(curl -s -o "$W/r.tsr" -w '%{http_code}' --max-time 10 --cacert "$T_TLS/ca.crt" \
	-H 'Content-Type: application/timestamp-query' --data-binary @"$W/q.tsq" "$T_URL/tsa")
if [ "$code" = 200 ] && openssl ts -reply -in "$W/r.tsr" -text 2>/dev/null | grep -q 'Status: Granted'; then
	row RFC_3161_timestamp timestamps/s RSA2048_T2 "$T_URL/tsa" "$W/q.tsq" application/timestamp-query
else
	echo "note signing timestamps: POST /tsa failed ($code)"; status=1
fi
# ---- XAdES-B, 4 KB XML -------------------------------------------------------------------------------------
python3 - "$W/doc.xml" <<'PY'
import sys
head, tail = '<?xml version="1.0" encoding="UTF-8"?><Beslut xmlns="urn:example:beslut">', '</Beslut>'
items, i = [], 0
while True:   # whole Item elements up to 4 KB (UTF-8)
    item = '<Item n="%d">Ärende %d: beslut om bidrag enligt förordning (2024:%d).</Item>' % (i, i, i)
    if len((head + "".join(items) + item + tail).encode()) > 4096:
        break
    items.append(item); i += 1
open(sys.argv[1], "w").write(head + "".join(items) + tail)
PY
printf '{"format":"xades","packaging":"enveloped","document":"%s","digest_algorithm":"sha256","key":"rsa"}' \
	"$(base64 -w0 "$W/doc.xml")" >"$W/xades.json"
code=$(api "$W/xades.json")
if [ "$code" = 200 ]; then
	row XAdES-B_4_KB signatures/s XMLDSIG_HSM_RSA2048_T2 "$T_MTLS_URL/api/v1/sign" "$W/xades.json" application/json \
		"${mtls[@]}" --expect '"signature"'
else
	echo "note signing XAdES-B: not available in this build (the seal API answered $code to format xades: $(head -c 160 "$W/probe.out" | tr -d '\n'))"
fi
# ---- PAdES-B, 1 MB PDF: the raw-body form of the seal API (base64 in JSON would pass its body limit)
python3 "$EFOS_TOP/bench/tools/mk-pdf.py" "$W/doc.pdf" 1000000
pades_url="$T_MTLS_URL/api/v1/sign?key=rsa&format=pades"
code=$(curl -s -o "$W/probe.out" -w '%{http_code}' --max-time 60 --cacert "$T_TLS/ca.crt" --cert "$T/api.pem" \
	--key "$T/api.key" -H 'Content-Type: application/pdf' --data-binary @"$W/doc.pdf" "$pades_url")
if [ "$code" = 200 ]; then
	row PAdES-B_1_MB signatures/s RSA2048_T2 "$pades_url" "$W/doc.pdf" application/pdf "${mtls[@]}"
else
	echo "note signing PAdES-B: not available in this build (the seal API answered $code to format=pades: $(head -c 160 "$W/probe.out" | tr -d '\n'))"
fi
# ---- federated signing ----------------------------------------------------------------------------------------------
code=$(curl -s -o "$W/fed.out" -w '%{http_code}' --max-time 10 --cacert "$T_TLS/ca.crt" -X POST "$T_URL/sign/request")
if [ "$code" = 404 ] || [ "$code" = 000 ] || [ "$code" = 405 ]; then
	echo "note signing federated transactions: not available in this build (POST /sign/request answered $code)"
elif [ -x "$EFOS_TOP/bench/tools/fed-sign.sh" ]; then
	bash "$EFOS_TOP/bench/tools/fed-sign.sh" || status=1
else
	echo "note signing federated transactions: POST /sign/request exists ($code) but this bench has no SignRequest driver yet (bench/tools/fed-sign.sh)"
fi
echo "note signing: seal requests from one API client over keep-alive mTLS at concurrency $C; timestamps on the public listener"
exit $status
