#!/usr/bin/env bash
# The seal API's XAdES (POST /api/v1/sign, "format": "xades"), end to end against efosd with
# the shared seal set-up (lib-seal.sh: CA, organisation, seal keys in the HSM, API clients):
#   enveloped (XML document, EC key), enveloping (binary in base64, and XML inside ds:Object;
#   RSA key, SHA-512), detached (by document_name) and hash-only detached each verify with
#   `xmlsec1 --verify --trusted-pem` against the signing CA and root, and a tampered copy does
#   not; the ds:Signature validates against the XAdES XSD; raw-body XAdES answers
#   application/xml; B-T: the SignatureTimeStamp's token verifies with `openssl ts -verify` over
#   the exc-c14n of ds:SignatureValue and the signature still verifies; refusals (not XML, a
#   DOCTYPE, detached without a name, a client not allowed xades) are 4xx with a reason; each
#   signature is audited with the document digest.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-creds.sh"
t_init t_seal_xades

. "$(dirname "$0")/lib-seal.sh"
SEAL_FORMATS_A=cades,xades
seal_setup_ca
seal_setup_tsa
seal_setup_clients
seal_start

SIGNED_PROPS="http://uri.etsi.org/01903/v1.3.2#:SignedProperties"
cat "$CREDS_ROOT_PEM" >"$T/root.pem"
# xverify FILE: xmlsec1 in $T (a detached Reference names a file there), trusting the CAs
xverify() {
	(cd "$T" && xmlsec1 --verify --trusted-pem "$CREDS_ROOT_PEM" --untrusted-pem "$CREDS_SIGN_PEM" \
		--id-attr:Id "$SIGNED_PROPS" "$1" 2>&1)
}
# xsd FILE: the ds:Signature in FILE against the XAdES schema
xsd() {
	xmllint --nonet --xpath "//*[local-name()='Signature' and namespace-uri()='http://www.w3.org/2000/09/xmldsig#']" \
		"$1" >"$1.sig" 2>&1 || { cat "$1.sig"; return 1; }
	xmllint --nonet --noout --schema "$EFOS_TOP/tests/schemas/xades-efos.xsd" "$1.sig" 2>&1 | grep -v 'Skipping import'
}
# tamper FILE FROM TO: a copy with the first FROM replaced by TO (same length)
tamper() { python3 -c 'import sys; b=open(sys.argv[1],"rb").read(); f=sys.argv[2].encode(); assert f in b; open(sys.argv[1]+".bad","wb").write(b.replace(f, sys.argv[3].encode(), 1))' "$@"; }
not_verified() {   # NAME OUTPUT
	if printf '%s' "$2" | grep -q '^OK'; then fail "$1" "$2"; else ok "$1"; fi
}

cat >"$T/beslut.xml" <<'XML'
<?xml version="1.0" encoding="UTF-8"?>
<beslut xmlns="urn:example:beslut" Id="b1">
  <diarienummer>2026/1234</diarienummer>
  <text>Ansökan beviljas &amp; ärendet avslutas.</text>
</beslut>
XML
XML_B64=$(base64 -w0 "$T/beslut.xml")

# ---- enveloped, EC key -------------------------------------------------------------------------
code=$(sign sysa "{\"format\":\"xades\",\"packaging\":\"enveloped\",\"document\":\"$XML_B64\",\"key\":\"main\"}" "$T/env")
expect_eq "xades enveloped: 200" "$code" 200
field "$T/env.json" signature | base64 -d >"$T/env.xml"
expect_eq "answer: signature_content_type application/xml" "$(field "$T/env.json" signature_content_type)" "application/xml"
expect_eq "answer: packaging enveloped" "$(field "$T/env.json" packaging)" "enveloped"
expect_match "enveloped XAdES verifies (xmlsec1 --verify)" "$(xverify env.xml)" '^OK'
expect_match "enveloped: ecdsa-sha256" "$(cat "$T/env.xml")" 'xmldsig-more#ecdsa-sha256'
expect_match "enveloped: the signature is inside the document's root" "$(cat "$T/env.xml")" '<ds:Signature[^>]*>.*</ds:Signature></beslut>'
expect_match "enveloped: the XAdES part validates against the XSD" "$(xsd "$T/env.xml")" 'validates'
tamper "$T/env.xml" 2026/1234 2026/1235
not_verified "enveloped: a changed document does not verify" "$(xverify env.xml.bad)"
tamper "$T/env.xml" '<xades:SigningTime>2' '<xades:SigningTime>1'
not_verified "enveloped: a changed SigningTime does not verify" "$(xverify env.xml.bad)"

# ---- enveloping, RSA key, SHA-512: binary, then XML ----------------------------------------------
code=$(sign sysa "{\"format\":\"xades\",\"packaging\":\"enveloping\",\"document\":\"$DOC_B64\",\"digest_algorithm\":\"sha512\",\"mime_type\":\"application/octet-stream\",\"key\":\"rsa\"}" "$T/ping")
expect_eq "xades enveloping (binary, RSA, SHA-512): 200" "$code" 200
field "$T/ping.json" signature | base64 -d >"$T/ping.xml"
expect_match "enveloping XAdES verifies" "$(xverify ping.xml)" '^OK'
expect_match "enveloping: rsa-sha512" "$(cat "$T/ping.xml")" 'xmldsig-more#rsa-sha512'
expect_match "enveloping: the XSD validates" "$(xsd "$T/ping.xml")" 'validates'
b64=$(python3 -c 'import re,sys; print(re.search(r"<ds:Object[^>]*Encoding[^>]*>([^<]+)<", open(sys.argv[1]).read()).group(1))' "$T/ping.xml")
expect_eq "enveloping: ds:Object holds the document" "$b64" "$DOC_B64"
first=${DOC_B64:0:8}; repl=$(printf '%s' "$first" | tr 'A-Za-z' 'B-ZAb-za')
tamper "$T/ping.xml" "$first" "$repl"
not_verified "enveloping: a changed document does not verify" "$(xverify ping.xml.bad)"
code=$(sign sysa "{\"format\":\"xades\",\"packaging\":\"enveloping\",\"document_is_xml\":true,\"document\":\"$XML_B64\",\"key\":\"rsa\"}" "$T/pingx")
expect_eq "xades enveloping (XML inside ds:Object): 200" "$code" 200
field "$T/pingx.json" signature | base64 -d >"$T/pingx.xml"
expect_match "enveloping XML verifies" "$(xverify pingx.xml)" '^OK'
expect_match "enveloping XML: the document element is inside ds:Object" "$(cat "$T/pingx.xml")" '<ds:Object [^>]*><beslut'
tamper "$T/pingx.xml" 2026/1234 2026/1235
not_verified "enveloping XML: a changed document does not verify" "$(xverify pingx.xml.bad)"

# ---- detached, by name; and hash-only -------------------------------------------------------------
cp "$T/doc" "$T/handling 1.bin"
code=$(sign sysa "{\"format\":\"xades\",\"packaging\":\"detached\",\"document\":\"$DOC_B64\",\"document_name\":\"handling 1.bin\",\"key\":\"main\"}" "$T/det")
expect_eq "xades detached: 200" "$code" 200
field "$T/det.json" signature | base64 -d >"$T/det.xml"
expect_match "detached: the Reference URI is the percent-encoded name" "$(cat "$T/det.xml")" 'URI="handling%201.bin"'
expect_match "detached XAdES verifies with the document beside it" "$(xverify det.xml)" '^OK'
expect_match "detached: the XSD validates" "$(xsd "$T/det.xml")" 'validates'
want=$(openssl dgst -sha256 -binary "$T/doc" | base64 -w0)
expect_eq "detached: document_digest is SHA-256 of the document" "$(field "$T/det.json" document_digest)" "$want"
printf 'X' >>"$T/handling 1.bin"
not_verified "detached: a changed document does not verify" "$(xverify det.xml)"
cp "$T/doc" "$T/handling 1.bin"
DIG=$(openssl dgst -sha384 -binary "$T/doc" | base64 -w0)
code=$(sign sysa "{\"format\":\"xades\",\"packaging\":\"detached\",\"digest\":\"$DIG\",\"digest_algorithm\":\"sha384\",\"reference_uri\":\"handling%201.bin\",\"key\":\"rsa\"}" "$T/hash")
expect_eq "xades hash-only (SHA-384, RSA): 200" "$code" 200
field "$T/hash.json" signature | base64 -d >"$T/hash.xml"
expect_match "hash-only XAdES verifies against the document" "$(xverify hash.xml)" '^OK'

# ---- raw body ----------------------------------------------------------------------------------------
code=$(curl -s -o "$T/raw.xml" -D "$T/raw.hdr" -w '%{http_code}' --max-time 20 --cacert "$T_TLS/ca.crt" --cert "$T/sysa.pem" \
	--key "$T/sysa.key" -H 'Content-Type: application/xml' --data-binary @"$T/beslut.xml" \
	"$T_MTLS_URL/api/v1/sign?key=main&format=xades&packaging=enveloped")
expect_eq "raw body xades: 200" "$code" 200
expect_match "raw body: application/xml" "$(tr -d '\r' <"$T/raw.hdr")" '[Cc]ontent-[Tt]ype: application/xml'
expect_match "raw body: the signed XML verifies" "$(xverify raw.xml)" '^OK'

# ---- B-T: the signature timestamp ----------------------------------------------------------------------
code=$(sign sysa "{\"format\":\"xades\",\"packaging\":\"enveloped\",\"document\":\"$XML_B64\",\"key\":\"main\",\"timestamp\":true}" "$T/bt")
expect_eq "xades B-T: 200" "$code" 200
expect_eq "... level B-T" "$(field "$T/bt.json" level)" B-T
field "$T/bt.json" signature | base64 -d >"$T/bt.xml"
expect_match "B-T: the signature verifies" "$(xverify bt.xml)" '^OK'
# the token and the exc-c14n of ds:SignatureValue (EN 319 132-1 §5.3), cut out with lxml
/usr/bin/python3 - "$T/bt.xml" "$T/bt.sigvalue" "$T/bt.token" <<'PY'
import base64, sys
from lxml import etree
d = etree.parse(sys.argv[1])
ns = {"ds": "http://www.w3.org/2000/09/xmldsig#", "xa": "http://uri.etsi.org/01903/v1.3.2#"}
sv = d.find(".//ds:SignatureValue", ns)
open(sys.argv[2], "wb").write(etree.tostring(sv, method="c14n", exclusive=True))
ts = d.find(".//xa:UnsignedSignatureProperties/xa:SignatureTimeStamp/xa:EncapsulatedTimeStamp", ns)
open(sys.argv[3], "wb").write(base64.b64decode(ts.text))
PY

out=$(openssl ts -verify -data "$T/bt.sigvalue" -in "$T/bt.token" -token_in -CAfile "$CHAIN" -untrusted "$T/tsa.pem" 2>&1)
expect_match "B-T: the token verifies over ds:SignatureValue (openssl ts -verify -token_in)" "$out" '^Verification: OK'

# ---- refusals ------------------------------------------------------------------------------------------
code=$(sign sysa "{\"format\":\"xades\",\"packaging\":\"enveloped\",\"document\":\"$DOC_B64\",\"key\":\"main\"}" "$T/notxml")
expect_eq "enveloped over bytes that are not XML: 400" "$code" 400
expect_match "... saying so" "$(field "$T/notxml.json" error)" 'not XML'
DTD_B64=$(printf '<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>' | base64 -w0)
code=$(sign sysa "{\"format\":\"xades\",\"packaging\":\"enveloped\",\"document\":\"$DTD_B64\",\"key\":\"main\"}" "$T/dtd")
expect_eq "a document with a DOCTYPE: 400" "$code" 400
code=$(sign sysa "{\"format\":\"xades\",\"packaging\":\"detached\",\"document\":\"$DOC_B64\",\"key\":\"main\"}" "$T/noname")
expect_eq "detached without a document name: 400" "$code" 400
expect_match "... saying what to give" "$(field "$T/noname.json" error)" 'document_name'
code=$(sign sysa "{\"format\":\"cades\",\"packaging\":\"enveloped\",\"document\":\"$DOC_B64\",\"key\":\"main\"}" "$T/cenv")
expect_eq "cades enveloped: 400" "$code" 400
code=$(sign sysb "{\"format\":\"xades\",\"packaging\":\"enveloped\",\"document\":\"$XML_B64\",\"key\":\"main\"}" "$T/nox")
expect_eq "a client not allowed xades: 403" "$code" 403
expect_match "... saying so" "$(field "$T/nox.json" error)" 'may not make xades'

# ---- audit ----------------------------------------------------------------------------------------------
n=$(psql_as "$T_PG" -c "SELECT count(*) FROM audit_log WHERE action = 'seal.sign' AND outcome = 'success' AND details->>'format' = 'xades'")
if [ "${n:-0}" -ge 6 ]; then ok "every XAdES signature audited ($n events)"; else fail "xades seal.sign audit events" "got $n"; fi
hexdig=$(openssl dgst -sha256 -hex "$T/doc" | sed 's/.*= //')
n=$(psql_as "$T_PG" -c "SELECT count(*) FROM audit_log WHERE action = 'seal.sign' AND details->>'format' = 'xades' AND details->>'packaging' = 'detached' AND details->>'document_digest' = '$hexdig'")
if [ "${n:-0}" -ge 1 ]; then ok "the detached XAdES audit event carries the document digest"; else fail "audit document digest" "none with $hexdig"; fi
check "the audit chain verifies" "$EFOSCTL" -c "$T_CONF" audit verify

t_done
