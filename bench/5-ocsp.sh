#!/usr/bin/env bash
# Row group 5, OCSP (bench/README.md): POST /ocsp for the card's authentication certificate,
# with a nonce (a response signed per request: RFC 8954 nonce echoed) and without one (the
# responder reuses a signed response within ca.ocsp_reuse_window). Keep-alive, concurrency 16.
. "$EFOS_TOP/bench/lib-bench.sh"
bench_env_up || { echo "note ocsp skipped: the benchmark efosd could not be set up"; exit 1; }
BENCH_LOAD_SECONDS=$(bench_short_seconds)
C=${EFOS_BENCH_OCSP_CONCURRENCY:-16}
W=$T/ocsp
mkdir -p "$W"
status=0
openssl ocsp -issuer "$CREDS_CARD_PEM" -cert "$CREDS_CARD_AUTH_PEM" -reqout "$W/nonce.der" >/dev/null 2>&1
openssl ocsp -issuer "$CREDS_CARD_PEM" -cert "$CREDS_CARD_AUTH_PEM" -no_nonce -reqout "$W/plain.der" >/dev/null 2>&1
ca_key=$(openssl x509 -in "$CREDS_CARD_PEM" -noout -text 2>/dev/null | sed -n 's/^ *Public Key Algorithm: //p' | head -1)
ca_bits=$(openssl x509 -in "$CREDS_CARD_PEM" -noout -text 2>/dev/null | sed -n 's/^ *Public-Key: (\([0-9]*\) bit)/\1/p' | head -1)
case "$ca_key:$ca_bits" in
id-ecPublicKey:256) lim=P256_T2;; rsaEncryption:3072) lim=RSA3072_T2;; *) lim=RSA2048_T2;;
esac
for kind in nonce plain; do
	code=$(curl -s -o "$W/$kind.resp" -w '%{http_code}' --max-time 10 --cacert "$T_TLS/ca.crt" \
		-H 'Content-Type: application/ocsp-request' --data-binary @"$W/$kind.der" "$T_URL/ocsp")
	if [ "$code" != 200 ] || ! openssl ocsp -respin "$W/$kind.resp" -resp_text -noverify 2>/dev/null | grep -q 'Cert Status: good'; then
		echo "note ocsp ($kind): the check request failed ($code)"; status=1; continue
	fi
	if [ $kind = nonce ]; then case="with_nonce_(signed_per_request)"; else case="without_nonce_(reuse_window)"; fi
	line=$(bench_load --url "$T_URL/ocsp" --method POST --body "$W/$kind.der" --content-type application/ocsp-request \
		--concurrency "$C" 2>"$W/$kind.err")
	if [ -z "$line" ]; then echo "note ocsp ($kind): the load generator failed: $(head -2 "$W/$kind.err" | tr '\n' ' ')"; status=1; continue; fi
	echo "result bench=ocsp case=$case value=$(bench_field "$line" ops_per_s) unit=responses/s limit=$lim" \
		"p50_ms=$(bench_field "$line" p50_ms) p99_ms=$(bench_field "$line" p99_ms) errors=$(bench_field "$line" errors) concurrency=$C"
done
echo "note ocsp: the responder signs with the issuing CA's key in the HSM ($ca_key ${ca_bits:-?} bits, so the limit is $lim); a ratio above 100 % without a nonce is the reuse window at work"
exit $status
