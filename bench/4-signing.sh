#!/usr/bin/env bash
# Row group 4, signing (bench/README.md): the seal API (POST /api/v1/sign on the mTLS listener,
# an API client with an RSA-2048 seal key in the HSM) for CAdES-B of a 1 KB document and for a
# hash-only request; RFC 3161 timestamps (POST /tsa, RSA-2048 TSA key); XAdES-B of a 4 KB XML
# and PAdES-B of a 1 MB PDF when this build's seal API accepts those formats; federated signing
# transactions (SignRequest → card login → SignResponse) with an RSA-2048 and a P-256 signer key,
# at EFOS_BENCH_FED_CONCURRENCY (4). A row whose feature is missing says so (note).
. "$EFOS_TOP/bench/lib-bench.sh"
. "$EFOS_BENCH_LIB" --lib   # bench_limit
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
# ---- federated signing: SignRequest -> card login -> SignResponse ---------------------------------------------------
# The requester (bench/lib-bench.sh, bench_fedsign_setup) signs its SignRequests before the timed part
# (tests/peers/tools/sign-client.py prepare-batch, python starts once); build/bench/loadgen
# --sign-requests plays the browser of each transaction: POST /sign/request, the AuthnRequest page to
# our IdP, the card login on the mTLS listener (a new TLS handshake signed by the card key in its
# token), the sign-message page accepted, the SAMLResponse to /sign/acs; a transaction counts only
# when the last page carries an EidSignResponse whose ResultMajor is Success.
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
FC=${EFOS_BENCH_FED_CONCURRENCY:-4}
fed_row() {   # fed_row CASE SIG-ALG LIMIT RSA-OPS DETAILS
	local case=$1 alg=$2 lim=$3 ops=$4 details=$5 n line before after ceiling
	n=$(awk -v s="$BENCH_LOAD_SECONDS" -v w="$(bench_warmup)" -v r="${EFOS_BENCH_FED_MAXRATE:-60}" -v c="$FC" \
		'BEGIN { printf "%d", (s + w) * r + 2 * c }')
	if ! $PY "$EFOS_TOP/tests/peers/tools/sign-client.py" prepare-batch --count "$n" --out "$W/fed-$case.txt" \
		--doc "$W/doc.xml" --key "$T/rq.key" --cert "$T/rq.crt" --requester "$BENCH_RQ_ID" --service "$fed_sig_id" \
		--idp "$fed_idp_id" --return-url "$BENCH_RQ_RETURN" --signer "urn:oid:1.2.752.29.4.13=$CREDS_DEMO_PNR" \
		--sign-message "Jag skriver under beslutet (EFOS bench)." --must-show --sig-alg "$alg" --valid-for 3600 \
		2>"$W/fed-$case.err"; then
		echo "note signing federated $case: making the SignRequests failed: $(tail -2 "$W/fed-$case.err" | tr '\n' ' ' | cut -c1-300)"
		status=1; return
	fi
	before=$(fed_keys)
	line=$(EFOS_LOADGEN_PIN=$CREDS_CARD_PIN bench_load --url "$T_URL/sign/request" --sign-requests "$W/fed-$case.txt" \
		--follow 4 --concurrency "$FC" --fresh-tls "${T_MTLS_URL#https://}" --cert "$CREDS_CARD_AUTH_PEM" \
		--key-uri "$BENCH_CARD_KEY_URI" --module "$EFOS_TEST_HSM_MODULE" 2>"$W/fed-$case.lerr")
	rm -f "$W/fed-$case.txt"
	if [ -z "$line" ]; then
		echo "note signing federated $case: the load generator failed: $(head -3 "$W/fed-$case.lerr" | tr '\n' ' ' | cut -c1-300)"
		status=1; return
	fi
	# the HSM's ceiling for this transaction: the limit divided by its RSA-2048 private-key operations
	# (key generation, the P-256 operations and the TLS handshakes not counted: it is an upper bound)
	ceiling=$(awk -v l="$(bench_limit "$lim")" -v n="$ops" 'BEGIN { if (l > 0) printf "%.0f", l / n }')
	echo "result bench=signing case=$case value=$(bench_field "$line" ops_per_s) unit=transactions/s limit=$lim" \
		"p50_ms=$(bench_field "$line" p50_ms) p99_ms=$(bench_field "$line" p99_ms) errors=$(bench_field "$line" errors)" \
		"ok=$(bench_field "$line" ok) exhausted=$(bench_field "$line" exhausted) concurrency=$FC $details" \
		"${ceiling:+hsm_ceiling=limit/$ops=$ceiling/s of_ceiling=$(awk -v v="$(bench_field "$line" ops_per_s)" -v c="$ceiling" 'BEGIN { printf "%.1f%%", 100 * v / c }')}"
	[ "$(bench_field "$line" errors)" = 0 ] || echo "note signing federated $case: errors: $(head -2 "$W/fed-$case.lerr" | tr '\n' ' ' | cut -c1-300)"
	# efosd destroys each per-request signing key when its transaction ends: none may be left
	# (they are session objects inside efosd; its /metrics counts them)
	after=$(fed_keys)
	if [ -z "$after" ]; then
		echo "note signing federated $case: could not read efos_signer_keys_live from /metrics to check for left-over keys"
	elif [ "$after" != 0 ]; then
		echo "note signing federated $case: $after per-request key(s) still alive in the HSM after the row (efos_signer_keys_live; before it: $before)"
		status=1
	fi
}
fed_keys() {   # efos_signer_keys_live of efosd's /metrics (empty when it cannot be read)
	curl -s --max-time 10 --cacert "$T_TLS/ca.crt" "$T_URL/metrics" | sed -n 's/^efos_signer_keys_live //p'
}
code=$(curl -s -o "$W/fed.out" -w '%{http_code}' --max-time 10 --cacert "$T_TLS/ca.crt" -X POST "$T_URL/sign/request")
fed_sig_id=$(curl -sf --max-time 10 --cacert "$T_TLS/ca.crt" "$T_URL/metadata/sigservice.xml" | grep -o 'entityID="[^"]*"' | head -1 | cut -d'"' -f2)
fed_idp_id=$(curl -sf --max-time 10 --cacert "$T_TLS/ca.crt" "$T_URL/metadata/idp.xml" | grep -o 'entityID="[^"]*"' | head -1 | cut -d'"' -f2)
if [ "$code" = 404 ] || [ "$code" = 000 ] || [ "$code" = 405 ]; then
	echo "note signing federated transactions: not available in this build (POST /sign/request answered $code)"
elif [ "$code" = 503 ] || [ -z "$fed_sig_id" ] || [ -z "$fed_idp_id" ]; then
	echo "note signing federated transactions: the signing service is not configured (POST /sign/request answered $code; sigservice entity '${fed_sig_id}', IdP entity '${fed_idp_id}'): see $T/efosd.log"
	status=1
elif ! $PY -c 'import lxml, asn1crypto, cryptography' 2>/dev/null; then
	echo "note signing federated transactions skipped: the requester needs python3-lxml, python3-asn1crypto, python3-cryptography"
	status=1
else
	fed_row federated_RSA-2048 rsa-sha256 RSA2048_T2 7 \
		"hsm_work=1_RSA-2048_keygen+6_RSA-2048_signatures+1_RSA-2048_decryption+1_P-256_CA_signature+1_P-256_card_signature"
	fed_row federated_P-256 ecdsa-sha256 RSA2048_T2 6 \
		"hsm_work=1_P-256_keygen+1_P-256_signature+5_RSA-2048_signatures+1_RSA-2048_decryption+1_P-256_CA_signature+1_P-256_card_signature"
	echo "note signing federated: one transaction = POST /sign/request (requester's SignRequest: XML document, signature checked, AuthnRequest signed) → POST /idp/sso/post → card login (new mTLS handshake, card key P-256 in SoftHSM) → sign-message page accepted → SAMLResponse to /sign/acs (assertion decrypted and checked, SAD checked, a fresh key pair generated in the HSM, signer certificate issued, the document's SignedInfo signed, SignResponse signed, key destroyed) → the page with EidSignResponse (counted only when ResultMajor is Success); concurrency $FC (EFOS_BENCH_FED_CONCURRENCY); the P-256 case asks for ecdsa-sha256, so the per-request key is EC and its generation cheap"
fi
echo "note signing: seal requests from one API client over keep-alive mTLS at concurrency $C; timestamps on the public listener"
exit $status
