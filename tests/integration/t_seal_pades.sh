#!/usr/bin/env bash
# The seal API's PAdES (format "pades"), end to end against efosd with its PostgreSQL and SoftHSM
# (set-up shared with t_seal.sh through lib-seal.sh):
#   PDFs generated here: a classic-xref PDF, an xref-stream + object-stream PDF, a 1 MB PDF;
#   JSON (base64 "document") and raw application/pdf requests; EC and RSA seal keys;
#   each signed PDF verifies with poppler's pdfsig (its "Signature Validation:" and
#   "Certificate Validation:" lines, an NSS database trusting the EFOS root) and with
#   `openssl cms -verify` over the ByteRange; the original bytes are a prefix of the answer
#   (incremental update); a second signature keeps the first valid; B-T's timestamp token
#   verifies with `openssl ts -verify` over the signature value; a tampered copy fails;
#   encrypted and broken PDFs get 400 with a clear message; a client not allowed pades gets 403;
#   each signature is audited with the SHA-256 of the PDF as sent.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-creds.sh"
t_init t_seal_pades
. "$(dirname "$0")/lib-seal.sh"

SEAL_FORMATS_A=cades,pades
seal_setup_ca
seal_setup_tsa
seal_setup_clients
seal_start

for tool in pdfsig certutil vfychain; do
	command -v $tool >/dev/null || { fail "$tool is installed (poppler-utils, libnss3-tools)"; t_done; }
done
mkdir -p "$T/nss"
certutil -N -d "sql:$T/nss" --empty-password >/dev/null 2>&1 &&
	certutil -A -d "sql:$T/nss" -n efos-root -t CT,C,C -i "$CREDS_ROOT_PEM" >/dev/null 2>&1 ||
	{ fail "an NSS database trusting the EFOS root"; t_done; }

# ---- PDFs to sign ---------------------------------------------------------------------------------
# gen_pdf OUT classic|xrefstream [PADDING_BYTES]
gen_pdf() {
	python3 - "$@" <<'PY'
import sys, zlib, os
out, kind = sys.argv[1], sys.argv[2]
pad = int(sys.argv[3]) if len(sys.argv) > 3 else 0
content = b"BT /F1 24 Tf 72 700 Td (Sealed by EFOS) Tj ET"
dicts = {
    1: b"<< /Type /Catalog /Pages 2 0 R >>",
    2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
    5: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
}
b = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
off = {}
def obj(n, body):
    off[n] = len(b); b.extend(b"%d 0 obj\n" % n + body + b"\nendobj\n")
obj(4, b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
# padding: an unreferenced-looking but valid stream object (6) with incompressible bytes
filler = os.urandom(pad)
obj(6, b"<< /Length %d >>\nstream\n" % len(filler) + filler + b"\nendstream")
if kind == "classic":
    for n in (1, 2, 3, 5):
        obj(n, dicts[n])
    x = len(b)
    b.extend(b"xref\n0 7\n0000000000 65535 f \n")
    for n in range(1, 7):
        b.extend(b"%010d 00000 n \n" % off[n])
    b.extend(b"trailer\n<< /Size 7 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % x)
else:
    nums = (1, 2, 3, 5)
    body = b""; hdr = b""
    for n in nums:
        hdr += b"%d %d " % (n, len(body)); body += dicts[n] + b"\n"
    z = zlib.compress(hdr + body)
    obj(7, b"<< /Type /ObjStm /N 4 /First %d /Filter /FlateDecode /Length %d >>\nstream\n" % (len(hdr), len(z)) + z + b"\nendstream")
    x = len(b)
    rows = [(0, 0, 65535)] + [(2, 7, nums.index(n)) if n in nums else (1, off[n], 0) for n in range(1, 7)] + [(1, off[7], 0), (1, x, 0)]
    data = b"".join(bytes([t]) + f.to_bytes(4, "big") + g.to_bytes(2, "big") for t, f, g in rows)
    zx = zlib.compress(data)
    b.extend(b"8 0 obj\n<< /Type /XRef /Size 9 /W [1 4 2] /Root 1 0 R /Filter /FlateDecode /Length %d >>\nstream\n" % len(zx)
             + zx + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % x)
open(out, "wb").write(b)
PY
}
check "a classic-xref PDF" gen_pdf "$T/classic.pdf" classic
check "an xref-stream PDF with an object stream" gen_pdf "$T/xs.pdf" xrefstream
check "a 1 MB PDF" gen_pdf "$T/big.pdf" classic 1000000

# pdf_b64 FILE: the JSON string of a PDF
pdf_b64() { base64 -w0 "$1"; }
# pdfsig_report FILE: "VALID/TOTAL certok=N mismatch=M" from pdfsig's lines.
# certok counts "Certificate is Trusted." and also "Unknown issue with Certificate or corrupted
# data.": poppler 22.12 (Debian 12) ignores CERT_PKIXVerifyCert's result and reads NSS's last
# error instead, which an OCSP URL in the signer certificate's AIA leaves set even when the path
# validates (later poppler checks the result). "issuer isn't Trusted", "Revoked", "Expired" and
# "not found" still fail, and nss_chain below validates the same path with NSS's libpkix.
pdfsig_report() {
	pdfsig -nssdir "sql:$T/nss" "$1" 2>&1 | awk '
		/Signature Validation:/ { total++; if (/Signature is Valid\./) valid++; if (/Digest Mismatch/) mm++ }
		/Certificate Validation:/ { if (/Certificate is Trusted\.|Unknown issue with Certificate/) ok++ }
		END { printf "%d/%d certok=%d mismatch=%d\n", valid, total, ok, mm }'
}
# nss_chain CERT: NSS (libpkix, email-signer usage, as pdfsig asks) validates CERT to the root
nss_chain() { vfychain -d "sql:$T/nss" -pp -u 4 -a "$1" -a "$CREDS_SIGN_PEM" 2>&1; }
# openssl_br FILE N: openssl cms -verify of the N-th (0-based) signature over its ByteRange
openssl_br() {
	python3 - "$1" "$2" "$T/br" <<'PY' || return 1
import re, sys
pdf = open(sys.argv[1], "rb").read(); n = int(sys.argv[2]); pre = sys.argv[3]
m = list(re.finditer(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf))[n]
a, b, c, d = map(int, m.groups())
open(pre + ".content", "wb").write(pdf[a:a + b] + pdf[c:c + d])
open(pre + ".p7s", "wb").write(bytes.fromhex(pdf[a + b + 1:c - 1].decode()))
PY
	openssl cms -verify -binary -inform DER -in "$T/br.p7s" -content "$T/br.content" -CAfile "$CHAIN" -purpose any \
		-out /dev/null 2>&1
}
# signed_pdf JSON OUT: the answer's signed PDF
signed_pdf() { field "$1" signature | base64 -d >"$2"; }

# ---- JSON, classic xref, EC key -----------------------------------------------------------------
code=$(sign sysa "{\"format\":\"pades\",\"document\":\"$(pdf_b64 "$T/classic.pdf")\",\"key\":\"main\"}" "$T/p1")
expect_eq "pades (JSON, classic xref, EC): 200" "$code" 200
expect_eq "level B-B" "$(field "$T/p1.json" level)" "B-B"
expect_eq "signature_content_type application/pdf" "$(field "$T/p1.json" signature_content_type)" "application/pdf"
signed_pdf "$T/p1.json" "$T/p1.pdf"
n=$(stat -c %s "$T/classic.pdf")
check "incremental update: the original bytes are a prefix" cmp -s -n "$n" "$T/classic.pdf" "$T/p1.pdf"
expect_eq "pdfsig: valid, trusted" "$(pdfsig_report "$T/p1.pdf")" "1/1 certok=1 mismatch=0"
expect_match "NSS validates the EC seal certificate to the root" "$(nss_chain "$T/seal-main.pem")" 'Chain is good'
expect_match "NSS validates the RSA seal certificate to the root" "$(nss_chain "$T/seal-rsa.pem")" 'Chain is good'
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=stranger -days 1 \
	-keyout "$T/stranger.key" -out "$T/stranger.pem" >/dev/null 2>&1
expect_match "NSS refuses a certificate outside the EFOS hierarchy" "$(nss_chain "$T/stranger.pem")" 'Chain is bad'

expect_match "openssl cms -verify over the ByteRange" "$(openssl_br "$T/p1.pdf" 0)" 'Verification successful'
print=$(openssl cms -cmsout -print -inform DER -in "$T/br.p7s" 2>&1)
expect_match "signingCertificateV2 present" "$print" 'id-smime-aa-signingCertificateV2'
if printf '%s' "$print" | grep -q signingTime; then fail "no signing-time attribute (PAdES)"; else ok "no signing-time attribute (PAdES)"; fi
expect_match "SubFilter ETSI.CAdES.detached" "$(tail -c +$((n + 1)) "$T/p1.pdf" | tr -d '\0' | head -c 400)" 'ETSI\.CAdES\.detached'
want=$(openssl dgst -sha256 -binary "$T/classic.pdf" | base64 -w0)
expect_eq "document_digest: SHA-256 of the PDF as sent" "$(field "$T/p1.json" document_digest)" "$want"

# ---- a second signature (RSA) on the signed PDF ----------------------------------------------------
code=$(sign sysa "{\"format\":\"pades\",\"document\":\"$(pdf_b64 "$T/p1.pdf")\",\"key\":\"rsa\"}" "$T/p2")
expect_eq "second signature (RSA): 200" "$code" 200
signed_pdf "$T/p2.json" "$T/p2.pdf"
expect_eq "pdfsig: both signatures valid" "$(pdfsig_report "$T/p2.pdf")" "2/2 certok=2 mismatch=0"
expect_match "openssl: the first signature still verifies" "$(openssl_br "$T/p2.pdf" 0)" 'Verification successful'
expect_match "openssl: the second signature verifies" "$(openssl_br "$T/p2.pdf" 1)" 'Verification successful'

# ---- raw application/pdf, xref stream, B-T --------------------------------------------------------
code=$(curl -s -o "$T/p3.pdf" -D "$T/p3.hdr" -w '%{http_code}' --max-time 30 --cacert "$T_TLS/ca.crt" --cert "$T/sysa.pem" \
	--key "$T/sysa.key" -H 'Content-Type: application/pdf' --data-binary @"$T/xs.pdf" \
	"$T_MTLS_URL/api/v1/sign?key=main&timestamp=true")
expect_eq "raw application/pdf, xref stream, B-T: 200" "$code" 200
expect_match "raw: answered application/pdf" "$(tr -d '\r' <"$T/p3.hdr")" '[Cc]ontent-[Tt]ype: application/pdf'
expect_match "the update has an xref stream" "$(tail -c 3000 "$T/p3.pdf" | tr -d '\0' | grep -a -c '/Type /XRef')" '^[1-9]'
expect_eq "pdfsig: valid, trusted" "$(pdfsig_report "$T/p3.pdf")" "1/1 certok=1 mismatch=0"
expect_match "openssl cms -verify over the ByteRange" "$(openssl_br "$T/p3.pdf" 0)" 'Verification successful'
expect_match "B-T: id-smime-aa-timeStampToken" "$(openssl cms -cmsout -print -inform DER -in "$T/br.p7s" 2>&1)" \
	'id-smime-aa-timeStampToken'
# The token and the signature value, cut from the CMS.
if python3 - "$T/br.p7s" "$T" <<'PY'
import sys
der = open(sys.argv[1], "rb").read()
def tlv(b, i):
    t = b[i]; l = b[i + 1]; j = i + 2
    if l & 0x80:
        n = l & 0x7f; l = int.from_bytes(b[j:j + n], "big"); j += n
    return t, j, l
def kids(start, length):
    i = start; out = []
    while i < start + length:
        t, j, l = tlv(der, i); out.append((t, i, j, l)); i = j + l
    return out
_, j, l = tlv(der, 0); ci = kids(j, l)
_, _, j0, l0 = ci[1]; _, j1, l1 = tlv(der, j0)
sis = [c for c in kids(j1, l1) if c[0] == 0x31][-1]
si = kids(sis[2], sis[3])[0]
parts = kids(si[2], si[3])
sig = [p for p in parts if p[0] == 0x04][-1]
attr = kids(*[p for p in parts if p[0] == 0xA1][0][2:4])[0]
values = kids(attr[2], attr[3])[1]
tok = kids(values[2], values[3])[0]
open(sys.argv[2] + "/p3.token", "wb").write(der[tok[1]:tok[2] + tok[3]])
open(sys.argv[2] + "/p3.sigvalue", "wb").write(der[sig[2]:sig[2] + sig[3]])
PY
then ok "B-T: token and signature value extracted"; else fail "B-T: extracting the token"; fi
out=$(openssl ts -verify -data "$T/p3.sigvalue" -in "$T/p3.token" -token_in -CAfile "$CHAIN" -untrusted "$T/tsa.pem" 2>&1)
expect_match "B-T: openssl ts -verify over the signature value" "$out" '^Verification: OK'

# ---- 1 MB PDF as base64 JSON ------------------------------------------------------------------------
printf '{"format":"pades","key":"rsa","document":"%s"}' "$(pdf_b64 "$T/big.pdf")" >"$T/big.json.req"
code=$(curl -s -o "$T/big.json" -w '%{http_code}' --max-time 60 --cacert "$T_TLS/ca.crt" --cert "$T/sysa.pem" \
	--key "$T/sysa.key" -H 'Content-Type: application/json' --data-binary @"$T/big.json.req" "$T_MTLS_URL/api/v1/sign")
expect_eq "a 1 MB PDF in JSON: 200" "$code" 200
signed_pdf "$T/big.json" "$T/big-signed.pdf"
expect_eq "1 MB: pdfsig valid" "$(pdfsig_report "$T/big-signed.pdf")" "1/1 certok=1 mismatch=0"

# ---- tampered -------------------------------------------------------------------------------------
LC_ALL=C sed 's/Sealed by EFOS/Sealed by EVIL/' "$T/p1.pdf" >"$T/tampered.pdf"
expect_match "tampered: pdfsig says Digest Mismatch" "$(pdfsig_report "$T/tampered.pdf")" '^0/1 .*mismatch=1'
if openssl_br "$T/tampered.pdf" 0 | grep -q 'Verification successful'; then fail "tampered: openssl fails"; else ok "tampered: openssl fails"; fi

# ---- refusals --------------------------------------------------------------------------------------
LC_ALL=C sed 's|<< /Size 7 /Root 1 0 R >>|<</Root 1 0 R/Encrypt 5 0 R>>|' "$T/classic.pdf" >"$T/enc.pdf"
code=$(sign sysa "{\"format\":\"pades\",\"document\":\"$(pdf_b64 "$T/enc.pdf")\",\"key\":\"main\"}" "$T/enc")
expect_eq "an encrypted PDF: 400" "$code" 400
expect_match "... saying it is encrypted" "$(field "$T/enc.json" error)" 'encrypted'
head -c 300 "$T/classic.pdf" >"$T/trunc.pdf"
code=$(sign sysa "{\"format\":\"pades\",\"document\":\"$(pdf_b64 "$T/trunc.pdf")\",\"key\":\"main\"}" "$T/trunc")
expect_eq "a truncated PDF: 400" "$code" 400
expect_match "... saying why" "$(field "$T/trunc.json" error)" 'startxref|truncated'
code=$(sign sysa "{\"format\":\"pades\",\"document\":\"$DOC_B64\",\"key\":\"main\"}" "$T/notpdf")
expect_eq "not a PDF: 400" "$code" 400
code=$(sign sysa "{\"format\":\"pades\",\"digest\":\"$(openssl dgst -sha256 -binary "$T/classic.pdf" | base64 -w0)\",\"key\":\"main\"}" "$T/pdig")
expect_eq "pades with a digest: 400" "$code" 400
code=$(sign sysb "{\"format\":\"pades\",\"document\":\"$(pdf_b64 "$T/classic.pdf")\",\"key\":\"main\"}" "$T/pdeny")
expect_eq "a client not allowed pades: 403" "$code" 403

# ---- audit ------------------------------------------------------------------------------------------
hexdig=$(openssl dgst -sha256 -hex "$T/classic.pdf" | sed 's/.*= //')
n=$(psql_as "$T_PG" -c "SELECT count(*) FROM audit_log WHERE action = 'seal.sign' AND outcome = 'success' AND details::text LIKE '%pades%' AND details::text LIKE '%$hexdig%'")
if [ "${n:-0}" -ge 1 ]; then ok "the PAdES signature is audited with the PDF's SHA-256"; else fail "pades audit" "no event with $hexdig"; fi
check "the audit chain verifies" "$EFOSCTL" -c "$T_CONF" audit verify

t_done
