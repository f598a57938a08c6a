#!/usr/bin/env bash
# CRL and OCSP, end to end against efosd (role ca) with its PostgreSQL and SoftHSM:
# /crl/<ca>.crl is issued at start (cRLNumber, AKI, signed by the CA key in the HSM);
# `openssl ocsp` says good, signed by the CA's delegated OCSP signer; nonce-less answers are
# reused (same producedAt); after a revocation OCSP says revoked with the reason within seconds
# and the next CRL lists the serial (openssl crl, openssl verify -crl_check); the CRL number
# increases; malformed requests get malformedRequest, unknown issuers unauthorized; the GET
# form works; a CRL of an unknown CA is 404.
#
# The CA hierarchy comes from `efosctl ca init` (creds_ca_init), the certificates from
# `efosctl ca issue`, revocations from `efosctl cert revoke/hold/release`: revocations made by
# another process, which efosd notices through cas.crl_dirty.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-creds.sh"
t_init t_crl_ocsp

creds_conf "$T/efos.conf" node.roles=ca ca.crl_validity=3600 ca.crl_reissue_before=600 \
	ca.ocsp_validity=600 ca.ocsp_reuse_window=60 || { fail "write config"; t_done; }
creds_ca_init ec:p256 || { fail "efosctl ca init"; t_done; }
ok "efosctl ca init"
CARD=$CREDS_CARD_PEM
CHAIN=$CREDS_CHAIN_PEM
# the card CA's delegated OCSP signer, for -VAfile
psql_as "$T_PG" -c "SELECT encode(ocsp_cert_der, 'base64') FROM cas WHERE name = 'card'" |
	{ echo '-----BEGIN CERTIFICATE-----'; tr -d '\n' | fold -w 64; echo; echo '-----END CERTIFICATE-----'; } >"$T/ocsp.pem"

# issue NAME: a card-auth certificate from the card CA for a software key
issue() {
	creds_csr "$T/$1.key" "$T/$1.csr" "/CN=x" || return 1
	creds_issue card-auth "$T/$1.pem" --csr "$T/$1.csr" --o "Testmyndigheten" --org-id 2021000001 \
		--given-name Anna --surname Andersson --serial-number 198001012384 --cn "Anna Andersson $1" >"$T/issue-$1.log" 2>&1 ||
		{ cat "$T/issue-$1.log"; return 1; }
}
issue leaf || { fail "efosctl ca issue card-auth"; t_done; }
ok "efosctl ca issue card-auth"
SERIAL=$(creds_serial "$T/leaf.pem")

efosd_start "$T_CONF" || { fail "efosd starts with role ca"; t_done; }
ok "efosd starts with role ca"

# ---- CRL -------------------------------------------------------------------------------------
fetch_crl() {   # -> $T/card.crl, status in CRL_CODE
	CRL_CODE=$(curl -s -o "$T/card.crl" -D "$T/crl.hdr" -w '%{http_code}' --max-time 5 --cacert "$T_TLS/ca.crt" "$T_URL/crl/card.crl")
}
crl_number() { openssl crl -inform DER -in "$T/card.crl" -noout -crlnumber 2>/dev/null | sed 's/crlNumber=0x//'; }
first_crl() { fetch_crl; [ "$CRL_CODE" = 200 ]; }
check "the card CA's first CRL is served within seconds" wait_for 10 first_crl
expect_match "CRL content type" "$(tr -d '\r' <"$T/crl.hdr")" '[Cc]ontent-[Tt]ype: application/pkix-crl'
expect_match "CRL Cache-Control bounded" "$(tr -d '\r' <"$T/crl.hdr")" '[Cc]ache-[Cc]ontrol: public, max-age=[0-9]+'
out=$(openssl crl -inform DER -in "$T/card.crl" -noout -text -CAfile "$CHAIN" 2>&1)
expect_match "CRL verifies with the card CA (signed in the HSM)" "$out" 'verify OK'
expect_match "CRL has an authority key identifier" "$out" 'X509v3 Authority Key Identifier'
expect_match "CRL v2 with nextUpdate" "$out" 'Next Update: '
N1=$((16#$(crl_number)))
if [ "$N1" -ge 1 ]; then ok "CRL number $N1"; else fail "CRL number" "$out"; fi
expect_eq "unknown CA: 404" "$(http_code "$T_URL/crl/nosuchca.crl")" 404
expect_eq "a bad CRL name: 404" "$(http_code "$T_URL/crl/..%2Fcard.crl")" 404
out=$(openssl verify -crl_check -CRLfile <(openssl crl -inform DER -in "$T/card.crl") -CAfile "$CHAIN" "$T/leaf.pem" 2>&1)
expect_match "openssl verify -crl_check: leaf OK before revocation" "$out" 'leaf.pem: OK'

# ---- OCSP ------------------------------------------------------------------------------------
ocsp() {   # extra args...
	openssl ocsp -issuer "$CARD" -cert "$T/leaf.pem" -url "$T_URL/ocsp" -CAfile "$CHAIN" \
		-verify_other "$CARD" -resp_text "$@" 2>&1
}
out=$(ocsp)
expect_match "openssl ocsp: good" "$out" 'leaf.pem: good'
expect_match "openssl ocsp: response verifies (delegated signer, chain to the root)" "$out" 'Response verify OK'
expect_match "openssl ocsp: responder ID by key" "$out" 'Responder Id: [0-9A-F]{40}'
expect_match "openssl ocsp: nonce echoed" "$out" 'OCSP Nonce'
out=$(ocsp -VAfile "$T/ocsp.pem")
expect_match "openssl ocsp -VAfile (the OCSP signer trusted): good" "$out" 'leaf.pem: good'

p1=$(ocsp -no_nonce | grep 'Produced At'); sleep 1.2
p2=$(ocsp -no_nonce | grep 'Produced At')
if [ -n "$p1" ] && [ "$p1" = "$p2" ]; then ok "no nonce: the signed answer is reused ($p1)"; else fail "no nonce: reuse" "first: $p1" "second: $p2"; fi
p3=$(ocsp | grep 'Produced At')
if [ -n "$p3" ] && [ "$p3" != "$p1" ]; then ok "with a nonce: signed afresh"; else fail "with a nonce: signed afresh" "$p1 / $p3"; fi

# GET form: base64 of the DER request, URL-encoded
openssl ocsp -issuer "$CARD" -cert "$T/leaf.pem" -reqout "$T/req.der" >/dev/null 2>&1
b64=$(base64 -w0 "$T/req.der" | sed 's/+/%2B/g; s/\//%2F/g; s/=/%3D/g')
code=$(curl -s -o "$T/get.der" -w '%{http_code}' --max-time 5 --cacert "$T_TLS/ca.crt" "$T_URL/ocsp/$b64")
respin() { openssl ocsp -respin "$1" -no_nonce -issuer "$CARD" -cert "$T/leaf.pem" -CAfile "$CHAIN" -verify_other "$CARD" 2>&1; }
out=$(respin "$T/get.der")
expect_eq "GET /ocsp/<base64>: 200" "$code" 200
expect_match "GET /ocsp/<base64>: good" "$out" 'leaf.pem: good'
b64u=$(base64 -w0 "$T/req.der" | tr '+/' '-_' | tr -d '=')
code=$(curl -s -o "$T/get2.der" -w '%{http_code}' --max-time 5 --cacert "$T_TLS/ca.crt" "$T_URL/ocsp/$b64u")
out=$(respin "$T/get2.der")
expect_match "GET /ocsp/<base64url>: good" "$out" 'leaf.pem: good'

# malformed: random bytes
head -c 200 /dev/urandom >"$T/junk.bin"
curl -s -o "$T/junk.resp" --max-time 5 --cacert "$T_TLS/ca.crt" -H 'Content-Type: application/ocsp-request' \
	--data-binary @"$T/junk.bin" "$T_URL/ocsp"
out=$(openssl ocsp -respin "$T/junk.resp" -resp_text -noverify 2>&1)
expect_match "random bytes: malformedRequest" "$out" '[Mm]alformed[Rr]equest \(1\)'
code=$(curl -s -o "$T/junk2.resp" -w '%{http_code}' --max-time 5 --cacert "$T_TLS/ca.crt" "$T_URL/ocsp/not-base64!")
out=$(openssl ocsp -respin "$T/junk2.resp" -resp_text -noverify 2>&1)
expect_match "GET with a bad encoding: malformedRequest" "$out" '[Mm]alformed[Rr]equest \(1\)'

# unknown issuer: a CA of nobody's
(
	cd "$T" && openssl req -new -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key \
		-subj "/CN=Other CA" -days 10 -out other.pem &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout oleaf.key -subj "/CN=o" -out oleaf.csr &&
	openssl x509 -req -in oleaf.csr -CA other.pem -CAkey other.key -set_serial 7 -days 10 -out oleaf.pem
) >/dev/null 2>&1
out=$(openssl ocsp -issuer "$T/other.pem" -cert "$T/oleaf.pem" -url "$T_URL/ocsp" -CAfile "$CHAIN" 2>&1)
expect_match "unknown issuer: unauthorized" "$out" 'unauthorized \(6\)'

# ---- revocation --------------------------------------------------------------------------------
out=$("$EFOSCTL" -c "$T_CONF" cert revoke --serial "$SERIAL" --reason keyCompromise --why "t_crl_ocsp" 2>&1) ||
	fail "efosctl cert revoke" "$out"
ocsp_revoked() { ocsp >"$T/ocsp.out"; grep -q 'leaf.pem: revoked' "$T/ocsp.out"; }
check "OCSP says revoked within seconds" wait_for 10 ocsp_revoked
expect_match "OCSP gives the reason" "$(cat "$T/ocsp.out")" 'Reason: keyCompromise'
expect_match "OCSP gives the revocation time" "$(cat "$T/ocsp.out")" 'Revocation Time: '
# the reusable good answer is dropped within one publisher poll (~2 s) of a revocation made
# elsewhere (efosctl, another node); at once for one made through this node
ocsp_nononce_revoked() { ocsp -no_nonce | grep -q 'leaf.pem: revoked'; }
check "no nonce: revoked within seconds, the reused good answer dropped" wait_for 5 ocsp_nononce_revoked

crl_lists() { fetch_crl && openssl crl -inform DER -in "$T/card.crl" -noout -text 2>/dev/null | grep -qi "Serial Number: 0*$SERIAL\$"; }
check "the next CRL lists the serial within seconds" wait_for 10 crl_lists
out=$(openssl crl -inform DER -in "$T/card.crl" -noout -text)
expect_match "CRL entry has the reason" "$out" 'Key Compromise'
N2=$((16#$(crl_number)))
if [ "$N2" -gt "$N1" ]; then ok "CRL number increased ($N1 -> $N2)"; else fail "CRL number increased" "$N1 -> $N2"; fi
out=$(openssl verify -crl_check -CRLfile <(openssl crl -inform DER -in "$T/card.crl") -CAfile "$CHAIN" "$T/leaf.pem" 2>&1)
expect_match "openssl verify -crl_check: certificate revoked" "$out" 'certificate revoked'

n=$(psql_super "SELECT count(*) FROM audit_log WHERE action = 'crl.issue' AND object = 'card'")
if [ "$n" -ge 2 ]; then ok "each CRL is audited (crl.issue: $n)"; else fail "crl.issue audited" "count $n"; fi
n=$(psql_super "SELECT crl_number FROM cas WHERE name = 'card'")
expect_eq "cas.crl_number is the served number" "$n" "$N2"

# ---- hold and release ---------------------------------------------------------------------------
issue held || fail "efosctl ca issue (a second certificate)"
S2=$(creds_serial "$T/held.pem")
status_of() { openssl ocsp -issuer "$CARD" -cert "$T/held.pem" -url "$T_URL/ocsp" -CAfile "$CHAIN" -verify_other "$CARD" 2>&1; }
is_held() { status_of >"$T/held.out"; grep -q 'held.pem: revoked' "$T/held.out" && grep -q 'Reason: certificateHold' "$T/held.out"; }
is_good() { status_of | grep -q 'held.pem: good'; }
crl_has() { fetch_crl && openssl crl -inform DER -in "$T/card.crl" -noout -text 2>/dev/null | grep -qi "Serial Number: 0*$1\$"; }
crl_lacks() { fetch_crl && ! openssl crl -inform DER -in "$T/card.crl" -noout -text 2>/dev/null | grep -qi "Serial Number: 0*$1\$"; }
check "a new certificate is good" is_good
"$EFOSCTL" -c "$T_CONF" cert hold --serial "$S2" --why "t_crl_ocsp" >/dev/null 2>&1 || fail "efosctl cert hold"
check "hold: OCSP says revoked, reason certificateHold" wait_for 10 is_held
check "hold: the next CRL lists it" wait_for 10 crl_has "$S2"
expect_match "hold: CRL reason Certificate Hold" "$(openssl crl -inform DER -in "$T/card.crl" -noout -text)" 'Certificate Hold'
"$EFOSCTL" -c "$T_CONF" cert release --serial "$S2" --why "t_crl_ocsp" >/dev/null 2>&1 || fail "efosctl cert release"
check "release: OCSP says good again" wait_for 10 is_good
check "release: the next CRL no longer lists it" wait_for 10 crl_lacks "$S2"
check "release: the revoked leaf stays listed" crl_has "$SERIAL"

efosd_stop
expect_eq "efosd stops cleanly" "$T_EXIT" 0
t_done
