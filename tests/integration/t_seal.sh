#!/usr/bin/env bash
# The seal API (POST /api/v1/sign) and the timestamp authority (POST /tsa), end to end against
# efosd (roles signer, ca) with its PostgreSQL and SoftHSM:
#   CA hierarchy (efosctl ca init), a TSA key + `tsa` certificate, an organisation, seal keys
#   (efosctl seal key add: EC P-256 and RSA-2048, in the HSM, agency-seal certificates), two API
#   clients (efosctl seal client add: one bound to both keys, one to one key);
#   CAdES detached / enveloping / hash-only verify with `openssl cms -verify` and carry
#   signingCertificateV2; SHA-384/512; raw-body requests; a client not bound to a key gets 403
#   (audited "denied"), no client certificate is refused, bad JSON is 400 with a clear message;
#   each signature is audited with the document digest; `openssl ts` against /tsa verifies,
#   the nonce is echoed, serials are unique, a bad request gets a rejection with failInfo;
#   a B-T signature carries a timestamp token whose imprint is the digest of the signature value.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-creds.sh"
t_init t_seal

. "$(dirname "$0")/lib-seal.sh"
seal_setup_ca
seal_setup_tsa
seal_setup_clients
seal_start

# ---- CAdES detached, EC key, SHA-256 ------------------------------------------------------------
code=$(sign sysa "{\"format\":\"cades\",\"packaging\":\"detached\",\"document\":\"$DOC_B64\",\"digest_algorithm\":\"sha256\",\"key\":\"main\"}" "$T/det")
expect_eq "detached: 200" "$code" 200
to_der "$T/det.json" "$T/det.p7s"
expect_match "detached CAdES verifies (openssl cms -verify -content doc)" "$(cms_verify "$T/det.p7s" "$T/doc")" 'Verification successful'
print=$(openssl cms -cmsout -print -inform DER -in "$T/det.p7s" 2>&1)
expect_match "signingCertificateV2 present" "$print" 'id-smime-aa-signingCertificateV2'
expect_match "signing-time present" "$print" 'signingTime'
expect_match "content-type and message-digest present" "$(printf '%s' "$print" | grep -c 'contentType\|messageDigest')" '^[2-9]'
expect_match "detached: no eContent" "$print" 'eContent: <ABSENT>'
expect_match "ECDSA with SHA-256" "$print" 'ecdsa-with-SHA256'
want=$(openssl dgst -sha256 -binary "$T/doc" | base64 -w0)
expect_eq "answer's document_digest is SHA-256 of the document" "$(field "$T/det.json" document_digest)" "$want"
expect_eq "level B-B" "$(field "$T/det.json" level)" "B-B"
changed_copy "$T/doc" "$T/doc-tampered"
out=$(cms_verify "$T/det.p7s" "$T/doc-tampered")
if printf '%s' "$out" | grep -q 'Verification successful'; then fail "a changed document does not verify" "$out"; else ok "a changed document does not verify"; fi

# ---- enveloping, RSA key, SHA-512 -----------------------------------------------------------------
code=$(sign sysa "{\"packaging\":\"enveloping\",\"document\":\"$DOC_B64\",\"digest_algorithm\":\"sha512\",\"key\":\"rsa\"}" "$T/env")
expect_eq "enveloping (RSA, SHA-512): 200" "$code" 200
to_der "$T/env.json" "$T/env.p7m"
expect_match "enveloping CAdES verifies" "$(cms_verify "$T/env.p7m")" 'Verification successful'
check "enveloping: the content is the document" cmp -s "$T/env.p7m.content" "$T/doc"
print=$(openssl cms -cmsout -print -inform DER -in "$T/env.p7m" 2>&1)
expect_match "RSA PKCS#1 v1.5 with SHA-512" "$print" 'sha512WithRSAEncryption|rsaEncryption'
expect_match "enveloping: signingCertificateV2" "$print" 'id-smime-aa-signingCertificateV2'

# ---- hash-only (the document never sent) ---------------------------------------------------------
DIG=$(openssl dgst -sha384 -binary "$T/doc" | base64 -w0)
code=$(sign sysa "{\"digest\":\"$DIG\",\"digest_algorithm\":\"sha384\",\"key\":\"main\"}" "$T/hash")
expect_eq "hash-only (SHA-384): 200" "$code" 200
to_der "$T/hash.json" "$T/hash.p7s"
expect_match "hash-only CAdES verifies against the original document" "$(cms_verify "$T/hash.p7s" "$T/doc")" 'Verification successful'
expect_match "hash-only: signingCertificateV2" "$(openssl cms -cmsout -print -inform DER -in "$T/hash.p7s" 2>&1)" 'id-smime-aa-signingCertificateV2'
code=$(sign sysa "{\"digest\":\"$DIG\",\"digest_algorithm\":\"sha256\",\"key\":\"main\"}" "$T/hashbad")
expect_eq "hash-only with a digest of the wrong length: 400" "$code" 400
expect_match "... saying why" "$(field "$T/hashbad.json" error)" '48 bytes long; a sha256 digest is 32'
code=$(sign sysa "{\"digest\":\"$DIG\",\"digest_algorithm\":\"sha384\",\"packaging\":\"enveloping\",\"key\":\"main\"}" "$T/hashenv")
expect_eq "hash-only enveloping: 400" "$code" 400

# ---- raw body -------------------------------------------------------------------------------------
code=$(curl -s -o "$T/raw.p7s" -D "$T/raw.hdr" -w '%{http_code}' --max-time 20 --cacert "$T_TLS/ca.crt" --cert "$T/sysa.pem" \
	--key "$T/sysa.key" -H 'Content-Type: application/octet-stream' --data-binary @"$T/doc" \
	"$T_MTLS_URL/api/v1/sign?key=main&packaging=detached")
expect_eq "raw body: 200" "$code" 200
expect_match "raw body: application/pkcs7-signature" "$(tr -d '\r' <"$T/raw.hdr")" '[Cc]ontent-[Tt]ype: application/pkcs7-signature'
expect_match "raw body: the .p7s verifies" "$(cms_verify "$T/raw.p7s" "$T/doc")" 'Verification successful'
openssl dgst -sha256 -binary "$T/doc" >"$T/doc.sha256"
code=$(curl -s -o "$T/rawh.p7s" -w '%{http_code}' --max-time 20 --cacert "$T_TLS/ca.crt" --cert "$T/sysa.pem" \
	--key "$T/sysa.key" -H 'Content-Type: application/octet-stream' --data-binary @"$T/doc.sha256" \
	"$T_MTLS_URL/api/v1/sign?key=main&input=digest")
expect_eq "raw hash-only: 200" "$code" 200
expect_match "raw hash-only verifies against the document" "$(cms_verify "$T/rawh.p7s" "$T/doc")" 'Verification successful'

# ---- refusals ---------------------------------------------------------------------------------------
code=$(sign sysb "{\"document\":\"$DOC_B64\",\"key\":\"rsa\"}" "$T/deny")
expect_eq "a client not bound to the key: 403" "$code" 403
expect_match "... saying which key" "$(field "$T/deny.json" error)" 'may not use the seal key "rsa"'
code=$(sign sysb "{\"document\":\"$DOC_B64\",\"key\":\"main\"}" "$T/b-ok")
expect_eq "that client with its own key: 200" "$code" 200
code=$(sign sysc "{\"document\":\"$DOC_B64\",\"key\":\"main\"}" "$T/unreg")
expect_eq "an unregistered client certificate: 403" "$code" 403
expect_match "... saying it is not registered" "$(field "$T/unreg.json" error)" 'not registered'
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$T_TLS/ca.crt" -H 'Content-Type: application/json' \
	--data-binary "{\"document\":\"$DOC_B64\",\"key\":\"main\"}" "$T_MTLS_URL/api/v1/sign")
expect_eq "no client certificate (mTLS listener): 403" "$code" 403
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$T_TLS/ca.crt" -H 'Content-Type: application/json' \
	--data-binary "{\"document\":\"$DOC_B64\",\"key\":\"main\"}" "$T_URL/api/v1/sign")
expect_eq "no client certificate (public listener): 403" "$code" 403
code=$(sign sysa '{"document": "abc", "key": ' "$T/badjson")
expect_eq "bad JSON: 400" "$code" 400
expect_match "... with a clear message" "$(field "$T/badjson.json" error)" 'not valid JSON'
code=$(sign sysa "{\"document\":\"$DOC_B64\",\"key\":\"main\",\"colour\":\"blue\"}" "$T/unknown")
expect_eq "an unknown member: 400" "$code" 400
code=$(sign sysa "{\"document\":\"not base64!\",\"key\":\"main\"}" "$T/notb64")
expect_eq "document not base64: 400" "$code" 400
code=$(sign sysa "{\"document\":\"$DOC_B64\",\"key\":\"main\",\"digest_algorithm\":\"sha1\"}" "$T/sha1")
expect_eq "SHA-1: 400" "$code" 400
code=$(sign sysa "{\"document\":\"$DOC_B64\",\"key\":\"main\",\"format\":\"xades\"}" "$T/xades")
expect_match "format not allowed for the client or not available: 4xx" "$code" '^40[03]$'
code=$(sign sysa "{\"document\":\"$DOC_B64\"}" "$T/nokey")
expect_eq "no key named: 400" "$code" 400

# ---- audit -----------------------------------------------------------------------------------------
n=$(psql_as "$T_PG" -c "SELECT count(*) FROM audit_log WHERE action = 'seal.sign' AND outcome = 'success'")
if [ "${n:-0}" -ge 5 ]; then ok "every signature audited ($n seal.sign events)"; else fail "seal.sign audit events" "got $n"; fi
hexdig=$(openssl dgst -sha256 -hex "$T/doc" | sed 's/.*= //')
n=$(psql_as "$T_PG" -c "SELECT count(*) FROM audit_log WHERE action = 'seal.sign' AND details::text LIKE '%$hexdig%'")
if [ "${n:-0}" -ge 1 ]; then ok "the audit event carries the document digest"; else fail "audit document digest" "no event with $hexdig"; fi
n=$(psql_as "$T_PG" -c "SELECT count(*) FROM audit_log WHERE action = 'seal.sign' AND outcome = 'denied'")
if [ "${n:-0}" -ge 1 ]; then ok "the refusal is audited (denied)"; else fail "denied audit"; fi
check "the audit chain verifies" "$EFOSCTL" -c "$T_CONF" audit verify

# ---- the TSA -----------------------------------------------------------------------------------------
openssl ts -query -data "$T/doc" -sha256 -cert -out "$T/q.tsq" 2>/dev/null
tsa_post() {   # IN OUT -> status code
	curl -s -o "$2" -D "$2.hdr" -w '%{http_code}' --max-time 10 --cacert "$T_TLS/ca.crt" \
		-H 'Content-Type: application/timestamp-query' --data-binary @"$1" "$T_URL/tsa"
}
expect_eq "POST /tsa: 200" "$(tsa_post "$T/q.tsq" "$T/r.tsr")" 200
expect_match "application/timestamp-reply" "$(tr -d '\r' <"$T/r.tsr.hdr")" '[Cc]ontent-[Tt]ype: application/timestamp-reply'
out=$(openssl ts -verify -data "$T/doc" -in "$T/r.tsr" -CAfile "$CHAIN" -untrusted "$T/tsa.pem" 2>&1)
expect_match "openssl ts -verify: OK" "$out" '^Verification: OK'
reply=$(openssl ts -reply -in "$T/r.tsr" -text 2>&1)
qnonce=$(openssl ts -query -in "$T/q.tsq" -text 2>/dev/null | sed -n 's/^Nonce: //p')
rnonce=$(printf '%s\n' "$reply" | sed -n 's/^Nonce: //p')
if [ -n "$qnonce" ] && [ "$qnonce" = "$rnonce" ]; then ok "nonce echoed ($qnonce)"; else fail "nonce echoed" "query $qnonce reply $rnonce"; fi
expect_match "policy signer.tsa_policy" "$reply" 'Policy OID: 1\.2\.3\.4\.5'
expect_match "accuracy 500 ms" "$reply" 'Accuracy: .*(0x01F4|500) millis'
s1=$(printf '%s\n' "$reply" | sed -n 's/^Serial number: //p')
tsa_post "$T/q.tsq" "$T/r2.tsr" >/dev/null
s2=$(openssl ts -reply -in "$T/r2.tsr" -text 2>&1 | sed -n 's/^Serial number: //p')
if [ -n "$s1" ] && [ -n "$s2" ] && [ "$s1" != "$s2" ]; then ok "serial numbers unique ($s1, $s2)"; else fail "unique serials" "$s1 / $s2"; fi
printf 'this is not a TimeStampReq' >"$T/garbage.tsq"
expect_eq "a malformed request: 200 with a rejection" "$(tsa_post "$T/garbage.tsq" "$T/bad.tsr")" 200
bad=$(openssl ts -reply -in "$T/bad.tsr" -text 2>&1)
expect_match "a malformed request: status rejection" "$bad" 'Status: Rejected'
expect_match "... with failInfo badDataFormat" "$bad" 'Failure info: the data submitted has the wrong format'
openssl ts -query -data "$T/doc" -sha1 -cert -out "$T/q1.tsq" 2>/dev/null
tsa_post "$T/q1.tsq" "$T/bad1.tsr" >/dev/null
expect_match "SHA-1 imprint: rejected (badAlg)" "$(openssl ts -reply -in "$T/bad1.tsr" -text 2>&1)" 'Failure info: unrecognized or unsupported algorithm'
openssl ts -query -data "$T/doc" -sha256 -tspolicy 1.2.3.9 -out "$T/qp.tsq" 2>/dev/null
tsa_post "$T/qp.tsq" "$T/badp.tsr" >/dev/null
expect_match "another policy: rejected (unacceptedPolicy)" "$(openssl ts -reply -in "$T/badp.tsr" -text 2>&1)" 'Failure info: the requested TSA policy is not supported'
expect_eq "wrong content type: 415" "$(http_code "$T_URL/tsa" -H 'Content-Type: text/plain' --data-binary @"$T/q.tsq")" 415

# ---- B-T ------------------------------------------------------------------------------------------
code=$(sign sysa "{\"document\":\"$DOC_B64\",\"key\":\"main\",\"timestamp\":true}" "$T/bt")
expect_eq "B-T: 200" "$code" 200
expect_eq "level B-T" "$(field "$T/bt.json" level)" "B-T"
to_der "$T/bt.json" "$T/bt.p7s"
expect_match "B-T signature verifies" "$(cms_verify "$T/bt.p7s" "$T/doc")" 'Verification successful'
print=$(openssl cms -cmsout -print -inform DER -in "$T/bt.p7s" 2>&1)
expect_match "B-T: id-smime-aa-timeStampToken unsigned attribute" "$print" 'id-smime-aa-timeStampToken'
# Cut the token out of the CMS and check its imprint = SHA-256(signature value).
if python3 - "$T/bt.p7s" "$T" <<'PY'
import sys, subprocess
der = open(sys.argv[1], 'rb').read()
def tlv(b, i):
    t = b[i]; l = b[i + 1]; j = i + 2
    if l & 0x80:
        n = l & 0x7f; l = int.from_bytes(b[j:j + n], 'big'); j += n
    return t, j, l          # tag, content start, content length
def children(b, start, length):
    i = start; out = []
    while i < start + length:
        t, j, l = tlv(b, i); out.append((t, i, j, l)); i = j + l
    return out
# ContentInfo -> [0] -> SignedData -> signerInfos (last SET) -> SignerInfo
_, j, l = tlv(der, 0); ci = children(der, j, l)
_, _, j0, l0 = ci[1]; _, j1, l1 = tlv(der, j0)
sd = children(der, j1, l1)
sis = [c for c in sd if c[0] == 0x31][-1]
si = children(der, sis[2], sis[3])[0]
parts = children(der, si[2], si[3])
sig = [p for p in parts if p[0] == 0x04][-1]
unsigned = [p for p in parts if p[0] == 0xa1][0]
attr = children(der, unsigned[2], unsigned[3])[0]
a = children(der, attr[2], attr[3])
values = a[1]
tok = children(der, values[2], values[3])[0]
open(sys.argv[2] + '/bt.token', 'wb').write(der[tok[1]:tok[2] + tok[3]])
open(sys.argv[2] + '/bt.sigvalue', 'wb').write(der[sig[2]:sig[2] + sig[3]])
PY
then ok "B-T: token and signature value extracted"; else fail "B-T: extracting the token"; fi
out=$(openssl ts -verify -data "$T/bt.sigvalue" -in "$T/bt.token" -token_in -CAfile "$CHAIN" -untrusted "$T/tsa.pem" 2>&1)
expect_match "B-T: the token verifies over the signature value (openssl ts -verify -token_in)" "$out" '^Verification: OK'
imprint=$(openssl ts -reply -in "$T/bt.token" -token_in -text 2>&1 | sed -n '/Message data:/,/^[A-Z]/p' | grep -E '^ +[0-9a-f]{4} - ' |
	sed 's/^ *[0-9a-f]* - //; s/   .*//' | tr -d ' -' | tr -d '\n')
want=$(openssl dgst -sha256 -hex "$T/bt.sigvalue" | sed 's/.*= //')
expect_eq "B-T: imprint = SHA-256 of the signature value" "$imprint" "$want"

t_done
