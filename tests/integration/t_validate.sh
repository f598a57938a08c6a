#!/usr/bin/env bash
# The signature validation API (POST /api/v1/validate/signature) end to end against efosd (roles
# signer, ca) with its PostgreSQL and SoftHSM: signatures made by the seal API validate as
# "valid" with the signer, level and signing time; a tampered copy of each is "invalid" with the
# reason; B-T timestamps are reported; input that is no signature, or a detached signature
# without its document, is a 400; unregistered clients get 403.
# XAdES and PAdES are sealed and validated when the seal API accepts those formats (the steps
# run as soon as it does; until then each says so in an "ok - ... skipped" line).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-creds.sh"
t_init t_validate

ORGNR=2021000002
creds_conf "$T/efos.conf" node.roles="signer ca" || { fail "write config"; t_done; }
creds_ca_init ec:p256 || { fail "efosctl ca init"; t_done; }
ok "efosctl ca init"
if creds_seal_tsa >"$T/tsa.log" 2>&1; then ok "TSA key and certificate"; else fail "TSA" "$(cat "$T/tsa.log")"; t_done; fi
if creds_seal_keys $ORGNR main:ec:p256 >"$T/keys.log" 2>&1; then ok "seal key main"; else fail "seal key" "$(cat "$T/keys.log")"; t_done; fi
# formats the seal API accepts in this build: the client may use all that efosctl knows
out=$(creds_seal_client sysv $ORGNR main cades,xades,pades 2>&1) ||
	out=$(creds_seal_client sysv $ORGNR main cades 2>&1)
expect_match "api client (seal and validate)" "$out" '^api_client [0-9]+'
check "api-client certificate (not registered)" creds_api_client_cert stranger $ORGNR
creds_client_ca || { fail "tls.client_ca with the EFOS CAs"; t_done; }
efosd_start "$T_CONF" || { fail "efosd starts with roles signer, ca"; t_done; }
ok "efosd starts with roles signer, ca"

head -c 2048 /dev/urandom >"$T/doc"
DOC_B64=$(base64 -w0 "$T/doc")
post() {   # CLIENT URLPATH JSON OUT -> status
	curl -s -o "$4" -w '%{http_code}' --max-time 30 --cacert "$T_TLS/ca.crt" --cert "$T/$1.pem" --key "$T/$1.key" \
		-H 'Content-Type: application/json' --data-binary @- "$T_MTLS_URL$2" <<<"$3"
}
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' "$1" "$2"; }
# sig0 FILE PATH: a value of the first signature's report ("signer.subject", "timestamp.valid")
sig0() {
	python3 -c 'import json,sys
v=json.load(open(sys.argv[1]))["signatures"][0]
for k in sys.argv[2].split("."): v=v.get(k, "") if isinstance(v, dict) else ""
print(str(v).lower() if isinstance(v, bool) else v)' "$1" "$2"
}
# validate OUTPREFIX SIGFILE [DOCFILE]: POST {"signature", "document"?}; OUTPREFIX.json; status
validate() {
	local j
	if [ -n "${3:-}" ]; then
		j="{\"signature\":\"$(base64 -w0 "$2")\",\"document\":\"$(base64 -w0 "$3")\"}"
	else
		j="{\"signature\":\"$(base64 -w0 "$2")\"}"
	fi
	post sysv /api/v1/validate/signature "$j" "$1.json"
}
# seal FORMAT PACKAGING OUTFILE [DOCB64]: the seal API's signature, decoded into OUTFILE; status
seal() {
	local code
	code=$(post sysv /api/v1/sign "{\"format\":\"$1\",\"packaging\":\"$2\",\"document\":\"${4:-$DOC_B64}\",\"key\":\"main\"${5:-}}" "$3.json")
	[ "$code" = 200 ] && field "$3.json" signature | base64 -d >"$3"
	echo "$code"
}
# flip FILE OFFSET OUT: a copy with one byte changed
flip() { cp "$1" "$3"; printf '%s' "$(dd if="$1" bs=1 skip="$2" count=1 2>/dev/null | tr 'A-Za-z0-9' 'B-ZAb-za1-90')" |
	dd of="$3" bs=1 seek="$2" conv=notrunc 2>/dev/null; }

# ---- CAdES ------------------------------------------------------------------------------------
expect_eq "seal CAdES detached" "$(seal cades detached "$T/det.p7s")" 200
expect_eq "validate CAdES detached: 200" "$(validate "$T/v-det" "$T/det.p7s" "$T/doc")" 200
expect_eq "CAdES detached: valid" "$(field "$T/v-det.json" result)" valid
expect_eq "... format cms" "$(field "$T/v-det.json" format)" cms
expect_eq "... level B-B" "$(sig0 "$T/v-det.json" level)" B-B
expect_match "... signer is the seal certificate" "$(sig0 "$T/v-det.json" signer.subject)" 'Testmyndigheten'
expect_match "... signing time" "$(sig0 "$T/v-det.json" signing_time)" '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T'
expect_eq "... certificate path valid" "$(sig0 "$T/v-det.json" certificate.result)" valid
changed_copy "$T/doc" "$T/doc-tampered"
validate "$T/v-det-bad" "$T/det.p7s" "$T/doc-tampered" >/dev/null
expect_eq "CAdES with a changed document: invalid" "$(field "$T/v-det-bad.json" result)" invalid
expect_eq "... reason message digest mismatch" "$(sig0 "$T/v-det-bad.json" reason)" "message digest mismatch"

expect_eq "seal CAdES enveloping" "$(seal cades enveloping "$T/env.p7m")" 200
validate "$T/v-env" "$T/env.p7m" >/dev/null
expect_eq "CAdES enveloping: valid" "$(field "$T/v-env.json" result)" valid
code=$(curl -s -o "$T/v-raw.json" -w '%{http_code}' --max-time 30 --cacert "$T_TLS/ca.crt" --cert "$T/sysv.pem" \
	--key "$T/sysv.key" -H 'Content-Type: application/pkcs7-mime' --data-binary @"$T/env.p7m" \
	"$T_MTLS_URL/api/v1/validate/signature")
expect_eq "raw body (application/pkcs7-mime): 200" "$code" 200
expect_eq "... valid" "$(field "$T/v-raw.json" result)" valid

expect_eq "seal CAdES B-T" "$(seal cades detached "$T/bt.p7s" "$DOC_B64" ',"timestamp":true')" 200
validate "$T/v-bt" "$T/bt.p7s" "$T/doc" >/dev/null
expect_eq "CAdES B-T: valid" "$(field "$T/v-bt.json" result)" valid
expect_eq "... level B-T" "$(sig0 "$T/v-bt.json" level)" B-T
expect_eq "... timestamp valid" "$(sig0 "$T/v-bt.json" timestamp.valid)" true
expect_match "... timestamp by the TSA" "$(sig0 "$T/v-bt.json" timestamp.tsa)" 'EFOS Test TSA'

# ---- refusals ---------------------------------------------------------------------------------
expect_eq "detached CMS without the document: 400" "$(validate "$T/v-nodoc" "$T/det.p7s")" 400
expect_match "... saying so" "$(field "$T/v-nodoc.json" error)" 'detached'
printf 'hello, world' >"$T/plain"
expect_eq "not a signature: 400" "$(validate "$T/v-plain" "$T/plain")" 400
expect_match "... saying so" "$(field "$T/v-plain.json" error)" 'not a signature'
expect_eq "bad JSON: 400" "$(post sysv /api/v1/validate/signature '{"signature": 1}' "$T/v-json.json")" 400
expect_eq "unregistered client: 403" "$(post stranger /api/v1/validate/signature "{\"signature\":\"$DOC_B64\"}" "$T/v-403.json")" 403
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$T_TLS/ca.crt" -H 'Content-Type: application/json' \
	--data-binary '{}' "$T_MTLS_URL/api/v1/validate/signature")
if [ "$code" = 200 ]; then fail "no client certificate is refused" "$code"; else ok "no client certificate is refused ($code)"; fi

# ---- XAdES (when the seal API makes it) -------------------------------------------------------
printf '<invoice xmlns="urn:example:invoice"><amount>100</amount></invoice>' >"$T/inv.xml"
code=$(seal xades enveloped "$T/xades.xml" "$(base64 -w0 "$T/inv.xml")")
if [ "$code" = 200 ]; then
	ok "seal XAdES enveloped"
	validate "$T/v-x" "$T/xades.xml" >/dev/null
	expect_eq "XAdES enveloped: valid" "$(field "$T/v-x.json" result)" valid
	expect_eq "... format xml" "$(field "$T/v-x.json" format)" xml
	expect_eq "... level B-B" "$(sig0 "$T/v-x.json" level)" B-B
	sed 's|<amount>100</amount>|<amount>900</amount>|' "$T/xades.xml" >"$T/xades-bad.xml"
	validate "$T/v-xbad" "$T/xades-bad.xml" >/dev/null
	expect_eq "XAdES with changed content: invalid" "$(field "$T/v-xbad.json" result)" invalid
	expect_eq "... reason reference digest mismatch" "$(sig0 "$T/v-xbad.json" reason)" "reference digest mismatch"
	code=$(post sysv /api/v1/sign "{\"format\":\"xades\",\"packaging\":\"detached\",\"document\":\"$DOC_B64\",\"document_name\":\"doc.bin\",\"key\":\"main\"}" "$T/xdet.json")
	if [ "$code" = 200 ]; then
		field "$T/xdet.json" signature | base64 -d >"$T/xdet.xml"
		validate "$T/v-xdet" "$T/xdet.xml" "$T/doc" >/dev/null
		expect_eq "XAdES detached with its document: valid" "$(field "$T/v-xdet.json" result)" valid
		validate "$T/v-xdetbad" "$T/xdet.xml" "$T/doc-tampered" >/dev/null
		expect_eq "XAdES detached with another document: invalid" "$(sig0 "$T/v-xdetbad.json" reason)" "reference digest mismatch"
	else
		fail "seal XAdES detached" "$code $(cat "$T/xdet.json")"
	fi
else
	ok "XAdES skipped: the seal API does not make XAdES in this build ($code: $(field "$T/xades.xml.json" error))"
fi

# ---- PAdES (when the seal API makes it) -------------------------------------------------------
pdf_fixture() {   # a minimal one-page PDF with a correct xref table
	python3 - "$1" <<'PY'
import sys
objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"]
out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
offs = []
for i, o in enumerate(objs, 1):
    offs.append(len(out)); out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
x = len(out)
out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
for o in offs: out += b"%010d 00000 n \n" % o
out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, x)
open(sys.argv[1], "wb").write(out)
PY
}
pdf_fixture "$T/in.pdf"
code=$(seal pades detached "$T/signed.pdf" "$(base64 -w0 "$T/in.pdf")")
if [ "$code" = 200 ]; then
	ok "seal PAdES"
	validate "$T/v-p" "$T/signed.pdf" >/dev/null
	expect_eq "PAdES: valid" "$(field "$T/v-p.json" result)" valid
	expect_eq "... format pdf" "$(field "$T/v-p.json" format)" pdf
	expect_eq "... covers the whole document" "$(sig0 "$T/v-p.json" covers_whole_document)" true
	# change one byte of the original content (the page size, which the ByteRange covers)
	off=$(grep -abo "MediaBox \[0 0 595" "$T/signed.pdf" | head -1 | cut -d: -f1)
	flip "$T/signed.pdf" $((off + 16)) "$T/signed-bad.pdf"
	validate "$T/v-pbad" "$T/signed-bad.pdf" >/dev/null
	expect_eq "PAdES with a changed byte: invalid" "$(field "$T/v-pbad.json" result)" invalid
	expect_eq "... reason message digest mismatch" "$(sig0 "$T/v-pbad.json" reason)" "message digest mismatch"
	# an incremental update after the signature: still valid for its revision
	cp "$T/signed.pdf" "$T/appended.pdf"
	printf '\n%% a later revision\n' >>"$T/appended.pdf"
	validate "$T/v-papp" "$T/appended.pdf" >/dev/null
	expect_eq "PAdES with a later revision: covers_whole_document false" "$(sig0 "$T/v-papp.json" covers_whole_document)" false
	expect_eq "... reason signed revision only" "$(sig0 "$T/v-papp.json" reason)" "signed revision only"
else
	ok "PAdES skipped: the seal API does not make PAdES in this build ($code: $(field "$T/signed.pdf.json" error))"
fi

t_done
