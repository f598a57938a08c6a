#!/usr/bin/env bash
# Card login and credential validation, end to end against efosd (roles ca idp) with its
# PostgreSQL and SoftHSM: a SoftHSM token stands in for the civil servant's card and curl
# presents its authentication certificate with the card key through OpenSSL's pkcs11 engine
# (../shared/peers.md).
#
#   GET /idp/card/whoami on the mTLS listener: 200 naming the person and loa4; then each refusal
#   with its own EFOS reason code from the validation (the route takes the chain as presented,
#   HTTP_ROUTE_CLIENT_CERT_RAW, so the TLS layer's own check of tls.client_ca does not pre-empt
#   it): suspended card, revoked card, expired certificate, certificate of an unknown CA (whether
#   or not the CA is in tls.client_ca), wrong key usage (a card-auth-shaped certificate whose EKU
#   is not clientAuth; the card's signature certificate, whose nonRepudiation-only key GnuTLS
#   refuses in the handshake itself, is refused by reason through the proxy header); the same
#   through a trusted reverse proxy's client-certificate header.
#   POST /api/v1/validate/certificate (API client: an EFOS-issued client certificate) for the
#   same certificates, with the exact reason codes; bad input is 400; a non-EFOS client 403.
#
# The card is enrolled with `efosctl card enroll` (creds_enroll_card) when the officer fixture
# (creds_bootstrap_officer, creds_demo_registry) is available; otherwise it is made here the way
# enrollment makes it: keys generated on the token, a CSR signed through the pkcs11 engine,
# `efosctl ca issue --profile card-auth`, and the registry and card rows. Suspension and
# revocation use `efosctl card suspend|revoke` with an enrolled card, else `efosctl cert
# hold|revoke` and the card's status, as the lifecycle does.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-creds.sh"
t_init t_card_login

# ---- profiles: the shipped ones plus a 1-second card-auth (for an expired certificate) and a
# card-auth whose extended key usage is emailProtection instead of clientAuth (wrong key usage
# that still completes a TLS handshake: keyUsage digitalSignature) ---------------------------
CREDS_PROFILES=$T/profiles.conf
{
	cat "$EFOS_TOP/etc/profiles.conf"
	echo
	echo "# test only: a card-auth certificate that expires after one second"
	awk '/^\[card-auth\]/{p=1; print "[card-auth-1s]"; next} /^\[/{p=0} p && !/^validity/' "$EFOS_TOP/etc/profiles.conf"
	echo "validity = 1s"
	echo
	echo "# test only: a card-auth certificate without the clientAuth extended key usage"
	awk '/^\[card-auth\]/{p=1; print "[card-auth-noclient]"; next} /^\[/{p=0} p && !/^ext_key_usage/' "$EFOS_TOP/etc/profiles.conf"
	echo "ext_key_usage = emailProtection"
} >"$CREDS_PROFILES"

CARD=card$$
CDIR=$T/card
mkdir -p "$CDIR"
P11CONF=$T/openssl-pkcs11.cnf
creds_card_openssl_conf "$P11CONF"

# The client CA file of the mTLS listener: the EFOS CAs, and the test client CA of lib.sh (an
# "other" CA that the TLS layer accepts but that is no EFOS trust anchor).
CLIENT_CA=$T/client-ca.pem
creds_conf "$T/efos.conf" "node.roles=ca idp admin" "tls.client_ca=$CLIENT_CA" \
	proxy.trusted_addresses=127.0.0.1 proxy.client_cert_header=X-SSL-Client-Cert || { fail "config"; t_done; }
# efosd needs the file at start; ca init needs the config first: a placeholder, then the real one.
cp "$T_TLS/client-ca.crt" "$CLIENT_CA"
creds_ca_init || { fail "efosctl ca init"; t_done; }
cat "$CREDS_ROOT_PEM" "$CREDS_CARD_PEM" "$T_TLS/client-ca.crt" >"$CLIENT_CA"

PNR=199001022384
ORGNR=2021005489
PERSON_NAME="Åsa Öberg"
ENROLLED=0

# ---- the card -------------------------------------------------------------------------------------
card_key() { creds_card_key_uri "$CARD" "$1"; }
engine_csr() {   # KEY-LABEL OUT
	OPENSSL_CONF=$P11CONF openssl req -new -engine pkcs11 -keyform engine -key "$(card_key "$1")" \
		-subj "/CN=card $1" -out "$2" 2>"$T/csr.err"
}
sql() { psql_super "$*"; }
cert_sha() { openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }

# The registry rows and the card as enrollment leaves them (active, certificates attached).
local_registry() {
	sql "INSERT INTO organisations (orgnr, name) VALUES ('$ORGNR', 'Testmyndigheten');
	     INSERT INTO persons (pnr, given_name, surname, display_name) VALUES ('$PNR', 'Åsa', 'Öberg', '$PERSON_NAME');
	     INSERT INTO affiliations (person_id, org_id, local_id, title)
	       SELECT p.id, o.id, 'asaobe', 'Handläggare' FROM persons p, organisations o WHERE p.pnr = '$PNR' AND o.orgnr = '$ORGNR';
	     INSERT INTO officers (name, cert_sha256, cert_subject) VALUES ('Test officer', sha256('t_card_login'), 'CN=Test officer');" >/dev/null
}
local_card() {
	creds_card_token "$CARD" || return 1
	creds_card_p11 "$CARD" --keypairgen --key-type EC:prime256v1 --id 01 --label auth --usage-sign >/dev/null 2>&1 &&
	creds_card_p11 "$CARD" --keypairgen --key-type EC:prime256v1 --id 02 --label sign --usage-sign >/dev/null 2>&1 ||
		{ echo "# keygen on the card failed"; return 1; }
	engine_csr auth "$CDIR/auth.csr" && engine_csr sign "$CDIR/sign.csr" || { cat "$T/csr.err"; return 1; }
	local subj=(--c SE --o Testmyndigheten --org-id "$ORGNR" --surname Öberg --given-name Åsa
		--serial-number "$PNR" --cn "$PERSON_NAME")
	creds_issue card-auth "$CDIR/auth.pem" --csr "$CDIR/auth.csr" "${subj[@]}" 2>>"$T/issue.log" &&
	creds_issue card-sign "$CDIR/sign.pem" --csr "$CDIR/sign.csr" "${subj[@]}" 2>>"$T/issue.log" ||
		{ cat "$T/issue.log"; return 1; }
	local serial
	serial=$(softhsm2-util --show-slots 2>/dev/null | awk -v l="$CARD" '/Serial number:/{s=$3} /Label:/{if ($2 == l) print s}' | head -1)
	sql "INSERT INTO cards (token_serial, person_id, affiliation_id, status, enrolled_by, confirmed_at)
	       SELECT '${serial:-$CARD}', p.id, a.id, 'active', (SELECT max(id) FROM officers), now()
	       FROM persons p JOIN affiliations a ON a.person_id = p.id WHERE p.pnr = '$PNR';
	     UPDATE certificates SET card_id = (SELECT max(id) FROM cards), person_id = (SELECT id FROM persons WHERE pnr = '$PNR')
	       WHERE cert_sha256 IN (decode('$(cert_sha "$CDIR/auth.pem")', 'hex'), decode('$(cert_sha "$CDIR/sign.pem")', 'hex'));" >/dev/null
	CARD_ID=$(sql "SELECT max(id) FROM cards")
	AUTH_PEM=$CDIR/auth.pem
	SIGN_PEM=$CDIR/sign.pem
}

# The officer fixture (C) and enrollment (D), when they are in lib-creds.sh.
HAVE_OFFICER=0
if type creds_bootstrap_officer >/dev/null 2>&1 && type creds_officer_env >/dev/null 2>&1 &&
   type creds_demo_registry >/dev/null 2>&1 && type creds_enroll_card >/dev/null 2>&1; then
	creds_bootstrap_officer "Olle Officer" >"$T/officer.log" 2>&1 && HAVE_OFFICER=1
fi
efosd_start "$T_CONF" || { fail "efosd starts"; t_done; }

if [ $HAVE_OFFICER = 1 ] && creds_officer_env >>"$T/officer.log" 2>&1 && creds_demo_registry >>"$T/officer.log" 2>&1 &&
   [ -n "${CREDS_DEMO_PNR:-}" ] && creds_card_token "$CARD" &&
   creds_enroll_card "$CARD" "$CREDS_DEMO_PNR" "${CREDS_DEMO_ORGNR:-2021000001}" --key-type ec:p256; then
	ENROLLED=1
	PNR=$CREDS_DEMO_PNR
	ORGNR=${CREDS_DEMO_ORGNR:-2021000001}
	PERSON_NAME=$(sql "SELECT display_name FROM persons WHERE pnr = '$PNR'")
	CARD_ID=$CREDS_CARD_ID
	AUTH_PEM=$CREDS_CARD_AUTH_PEM
	SIGN_PEM=$CREDS_CARD_SIGN_PEM
	ok "card enrolled with efosctl card enroll (card $CARD_ID)"
else
	echo "# enrollment fixture not available (or it failed): making the card locally"
	[ $HAVE_OFFICER = 1 ] && tail -5 "$T/officer.log" | sed 's/^/#   officer: /'
	[ -s "${CREDS_CARD_LOG:-/nonexistent}" ] && tail -5 "$CREDS_CARD_LOG" | sed 's/^/#   enroll: /'
	softhsm2-util --delete-token --token "$CARD" >/dev/null 2>&1
	local_registry && local_card && ok "card made locally (card $CARD_ID)" || { fail "card set-up"; t_done; }
fi
[ -s "$CDIR/auth.csr" ] || engine_csr auth "$CDIR/auth.csr" || { fail "CSR with the card key"; t_done; }

# ---- clients ----------------------------------------------------------------------------------------
# An API client: an EFOS-issued client certificate (profile officer), key in a file.
creds_csr "$T/api.key" "$T/api.csr" "/CN=api" &&
	creds_issue officer "$T/api.pem" --csr "$T/api.csr" --c SE --o Testmyndigheten --cn "Test API client" 2>>"$T/issue.log" ||
	{ fail "API client certificate"; t_done; }

# whoami KEY-LABEL CERT [curl args]: the body; WHO_CODE = the status
whoami() {
	local label=$1 cert=$2; shift 2
	local out
	out=$(OPENSSL_CONF=$P11CONF curl -s --max-time 10 -w '\n%{http_code}' --engine pkcs11 --key-type ENG \
		--key "$(card_key "$label")" --cert "$cert" --cacert "$T_TLS/ca.crt" "$@" "$T_MTLS_URL/idp/card/whoami" 2>&1)
	WHO_CODE=${out##*$'\n'}
	WHO_BODY=${out%$'\n'*}
}
# via the trusted proxy header on the public listener: PEM URL-encoded like nginx's
# $ssl_client_escaped_cert
proxy_whoami() {
	local enc
	enc=$(sed 's/%/%25/g; s/ /%20/g; s/+/%2B/g; s/\//%2F/g; s/=/%3D/g' "$1" | awk '{printf "%s%%0A", $0}')
	local out
	out=$(curl -s --max-time 10 -w '\n%{http_code}' --cacert "$T_TLS/ca.crt" -H "X-SSL-Client-Cert: $enc" \
		"$T_URL/idp/card/whoami" 2>&1)
	WHO_CODE=${out##*$'\n'}
	WHO_BODY=${out%$'\n'*}
}
# validate CERT-PEM [purpose]: POST as the API client; V_CODE, V_BODY
json_pem() { awk '{printf "%s\\n", $0}' "$1"; }
validate() {
	local body="{\"certificate\":\"$(json_pem "$1")\",\"purpose\":\"${2:-card-auth}\"}"
	local out
	out=$(curl -s --max-time 10 -w '\n%{http_code}' --cacert "$T_TLS/ca.crt" --cert "$T/api.pem" --key "$T/api.key" \
		-H 'Content-Type: application/json' --data-binary "$body" "$T_MTLS_URL/api/v1/validate/certificate" 2>&1)
	V_CODE=${out##*$'\n'}
	V_BODY=${out%$'\n'*}
}
field() { printf '%s' "$2" | grep -o "\"$1\":\"[^\"]*\"" | head -1 | sed "s/^\"$1\":\"//; s/\"\$//"; }

LOA4=http://id.elegnamnden.se/loa/1.0/loa4

# ---- the good card ----------------------------------------------------------------------------------
whoami auth "$AUTH_PEM"
expect_eq "whoami with the card: 200" "$WHO_CODE" 200
expect_match "whoami names the person" "$WHO_BODY" "\"display_name\":\"$PERSON_NAME\""
expect_match "whoami has the personnummer" "$WHO_BODY" "\"personal_identity_number\":\"$PNR\""
expect_eq "whoami says loa4" "$(field loa "$WHO_BODY")" "$LOA4"
expect_match "whoami lists the affiliation local_id@orgnr" "$WHO_BODY" "\"org_affiliation\":\"[A-Za-z0-9._-]+@$ORGNR\""
expect_match "whoami names the card" "$WHO_BODY" "\"card\":\\{\"id\":$CARD_ID,"

validate "$AUTH_PEM"
expect_eq "validate the card certificate: 200" "$V_CODE" 200
expect_match "validate: valid" "$V_BODY" '"valid":true,"outcome":"valid","reason":"ok"'
expect_match "validate: loa4" "$V_BODY" "\"loa\":\\[\"$LOA4\"\\]"
expect_match "validate: person and card" "$V_BODY" "\"personal_identity_number\":\"$PNR\".*\"card\":\\{\"id\":$CARD_ID,"
expect_match "validate: chain to the root" "$V_BODY" '"chain":\["[^"]*","[^"]*","[^"]*EFOS Test Root CA'
validate "$AUTH_PEM" any
expect_match "validate (purpose any): valid, loa4" "$V_BODY" "\"valid\":true.*\"loa\":\\[\"$LOA4\"\\]"

proxy_whoami "$AUTH_PEM"
expect_eq "whoami through the trusted proxy header: 200" "$WHO_CODE" 200
expect_eq "... loa4" "$(field loa "$WHO_BODY")" "$LOA4"

# No certificate at all: refused by the platform before the route runs.
out=$(curl -s --max-time 10 -w '\n%{http_code}' --cacert "$T_TLS/ca.crt" "$T_MTLS_URL/idp/card/whoami")
expect_eq "whoami without a client certificate: 403" "${out##*$'\n'}" 403
expect_match "... asks for the card" "${out%$'\n'*}" "needs a client certificate \\(your EFOS card\\): none was presented"

# ---- wrong key usage: the card's signature certificate ---------------------------------------------
# Its key may not sign a TLS handshake (keyUsage nonRepudiation only): GnuTLS refuses its
# CertificateVerify, so the handshake itself fails (TLS 1.3: the server drops the connection
# after curl thinks it is done), and no route sees it. Through the proxy header (the proxy
# asserts possession), the validation refuses it with its reason.
whoami sign "$SIGN_PEM"
expect_eq "whoami with the signature certificate: the TLS handshake is refused (000)" "$WHO_CODE" 000
proxy_whoami "$SIGN_PEM"
expect_eq "the signature certificate through the proxy header: 403" "$WHO_CODE" 403
expect_eq "... reason wrong_key_usage" "$(field reason "$WHO_BODY")" wrong_key_usage
expect_match "... names the usage" "$WHO_BODY" 'keyUsage nonRepudiation'
validate "$SIGN_PEM"
expect_eq "validate the signature certificate for card-auth: 200" "$V_CODE" 200
expect_eq "... reason wrong_key_usage" "$(field reason "$V_BODY")" wrong_key_usage
expect_match "... names the usage" "$V_BODY" 'keyUsage nonRepudiation'
validate "$SIGN_PEM" any
expect_match "validate it for any purpose: valid, no LoA" "$V_BODY" '"valid":true.*"loa":\[\]'

# A certificate for the card's authentication key from the EFOS card CA with keyUsage
# digitalSignature but extendedKeyUsage emailProtection (not clientAuth): the handshake
# completes with the card key, and the validation refuses it over direct TLS.
creds_issue card-auth-noclient "$CDIR/noclient.pem" --csr "$CDIR/auth.csr" --c SE --o Testmyndigheten --org-id "$ORGNR" \
	--surname Öberg --given-name Åsa --serial-number "$PNR" --cn "$PERSON_NAME" 2>>"$T/issue.log" ||
	fail "issue a card-auth certificate without clientAuth" "$(tail -3 "$T/issue.log")"
sql "UPDATE certificates SET card_id = $CARD_ID WHERE cert_sha256 = decode('$(cert_sha "$CDIR/noclient.pem")', 'hex')" >/dev/null
whoami auth "$CDIR/noclient.pem"
expect_eq "whoami with a card-auth certificate without clientAuth (card key): 403" "$WHO_CODE" 403
expect_eq "... reason wrong_key_usage" "$(field reason "$WHO_BODY")" wrong_key_usage
expect_match "... names the usage" "$WHO_BODY" 'extendedKeyUsage emailProtection'
expect_eq "... outcome invalid" "$(field outcome "$WHO_BODY")" invalid
proxy_whoami "$CDIR/noclient.pem"
expect_eq "the same through the proxy header: 403 wrong_key_usage" "$WHO_CODE $(field reason "$WHO_BODY")" "403 wrong_key_usage"

# ---- unknown CA -------------------------------------------------------------------------------------
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/self-ca.key" 2>/dev/null
openssl req -new -x509 -key "$T/self-ca.key" -subj "/O=Nobody/CN=Self-made CA" -days 30 \
	-addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign -out "$T/self-ca.pem" 2>/dev/null
printf 'basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >"$T/leaf.ext"
openssl x509 -req -in "$CDIR/auth.csr" -CA "$T/self-ca.pem" -CAkey "$T/self-ca.key" -set_serial 0x$(openssl rand -hex 8) \
	-days 30 -extfile "$T/leaf.ext" -out "$T/self-leaf.pem" 2>/dev/null || fail "a self-made CA's certificate for the card key"
whoami auth "$T/self-leaf.pem"
expect_eq "whoami with a self-made CA's certificate (card key): 403" "$WHO_CODE" 403
expect_eq "... reason untrusted_issuer (from the validation, not the TLS layer)" "$(field reason "$WHO_BODY")" untrusted_issuer
expect_eq "... outcome invalid" "$(field outcome "$WHO_BODY")" invalid
# The same CA's certificate for a key in a file, chain (leaf + CA) presented over TLS.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/self-file.key" 2>/dev/null
openssl req -new -key "$T/self-file.key" -subj "/CN=Someone Else" -out "$T/self-file.csr" 2>/dev/null
openssl x509 -req -in "$T/self-file.csr" -CA "$T/self-ca.pem" -CAkey "$T/self-ca.key" -set_serial 0x$(openssl rand -hex 8) \
	-days 30 -extfile "$T/leaf.ext" -out "$T/self-file.pem" 2>/dev/null
cat "$T/self-file.pem" "$T/self-ca.pem" >"$T/self-file-chain.pem"
out=$(curl -s --max-time 10 -w '\n%{http_code}' --cacert "$T_TLS/ca.crt" --cert "$T/self-file-chain.pem" --key "$T/self-file.key" \
	"$T_MTLS_URL/idp/card/whoami")
expect_eq "whoami with a self-made CA's chain (file key): 403 untrusted_issuer" \
	"${out##*$'\n'} $(field reason "${out%$'\n'*}")" "403 untrusted_issuer"
proxy_whoami "$T/self-leaf.pem"
expect_eq "the self-made CA's certificate through the proxy header: 403 untrusted_issuer" \
	"$WHO_CODE $(field reason "$WHO_BODY")" "403 untrusted_issuer"
validate "$T/self-leaf.pem"
expect_eq "validate it: reason untrusted_issuer" "$(field reason "$V_BODY")" untrusted_issuer
# A CA the TLS layer accepts (in tls.client_ca) but that is not an EFOS trust anchor.
out=$(curl -s --max-time 10 -w '\n%{http_code}' --cacert "$T_TLS/ca.crt" --cert "$T_TLS/client.crt" --key "$T_TLS/client.key" \
	"$T_MTLS_URL/idp/card/whoami")
expect_eq "whoami with another CA's client certificate: 403" "${out##*$'\n'}" 403
expect_eq "... refused by validation: untrusted_issuer" "$(field reason "${out%$'\n'*}")" untrusted_issuer
proxy_whoami "$T_TLS/client.crt"
expect_eq "the same through the proxy header: 403" "$WHO_CODE" 403
expect_eq "... untrusted_issuer" "$(field reason "$WHO_BODY")" untrusted_issuer
out=$(curl -s --max-time 10 -w '\n%{http_code}' --cacert "$T_TLS/ca.crt" --cert "$T_TLS/client.crt" --key "$T_TLS/client.key" \
	-H 'Content-Type: application/json' --data-binary "{\"certificate\":\"$(json_pem "$AUTH_PEM")\"}" \
	"$T_MTLS_URL/api/v1/validate/certificate")
expect_eq "the validation API refuses a non-EFOS API client: 403" "${out##*$'\n'}" 403
expect_match "... and says why" "${out%$'\n'*}" "client certificate issued by an EFOS CA"

# ---- expired ----------------------------------------------------------------------------------------
creds_issue card-auth-1s "$CDIR/expired.pem" --csr "$CDIR/auth.csr" --c SE --o Testmyndigheten --org-id "$ORGNR" \
	--surname Öberg --given-name Åsa --serial-number "$PNR" --cn "$PERSON_NAME" 2>>"$T/issue.log" ||
	fail "issue a 1-second certificate" "$(tail -3 "$T/issue.log")"
sql "UPDATE certificates SET card_id = $CARD_ID WHERE cert_sha256 = decode('$(cert_sha "$CDIR/expired.pem")', 'hex')" >/dev/null
sleep 2
whoami auth "$CDIR/expired.pem"
expect_eq "whoami with an expired certificate (card key): 403" "$WHO_CODE" 403
expect_eq "... reason expired (from the validation, not the TLS layer)" "$(field reason "$WHO_BODY")" expired
expect_match "... says when" "$WHO_BODY" '"error":"the certificate [^"]* expired at 20[0-9-]+T'
proxy_whoami "$CDIR/expired.pem"
expect_eq "the expired certificate through the proxy header: 403 expired" "$WHO_CODE $(field reason "$WHO_BODY")" "403 expired"
validate "$CDIR/expired.pem"
expect_eq "validate it: reason expired" "$(field reason "$V_BODY")" expired
expect_match "... says when" "$V_BODY" '"message":"the certificate [^"]* expired at 20[0-9-]+T'

# ---- bad input --------------------------------------------------------------------------------------
code=$(curl -s -o "$T/bad.json" -w '%{http_code}' --cacert "$T_TLS/ca.crt" --cert "$T/api.pem" --key "$T/api.key" \
	-H 'Content-Type: application/json' --data-binary '{"certificate":"not a certificate"}' "$T_MTLS_URL/api/v1/validate/certificate")
expect_eq "validate garbage: 400" "$code" 400
expect_match "... with a clear message" "$(cat "$T/bad.json")" 'not a PEM certificate nor base64'
code=$(curl -s -o "$T/bad.json" -w '%{http_code}' --cacert "$T_TLS/ca.crt" --cert "$T/api.pem" --key "$T/api.key" \
	-H 'Content-Type: application/json' --data-binary "{\"certificate\":\"$(json_pem "$AUTH_PEM")\",\"purpose\":\"login\"}" \
	"$T_MTLS_URL/api/v1/validate/certificate")
expect_eq "validate with an unknown purpose: 400" "$code" 400
code=$(curl -s -o "$T/raw.json" -w '%{http_code}' --cacert "$T_TLS/ca.crt" --cert "$T/api.pem" --key "$T/api.key" \
	-H 'Content-Type: application/x-pem-file' --data-binary "@$AUTH_PEM" "$T_MTLS_URL/api/v1/validate/certificate")
expect_eq "validate a raw PEM body: 200" "$code" 200
expect_match "... valid" "$(cat "$T/raw.json")" '"valid":true'
der_b64=$(openssl x509 -in "$AUTH_PEM" -outform DER | base64 -w0)
code=$(curl -s -o "$T/b64.json" -w '%{http_code}' --cacert "$T_TLS/ca.crt" --cert "$T/api.pem" --key "$T/api.key" \
	--data-binary "{\"certificate\":\"$der_b64\",\"purpose\":\"card-auth\",\"at\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"}" \
	"$T_MTLS_URL/api/v1/validate/certificate")
expect_match "validate base64 DER with a time: valid, loa4" "$code $(cat "$T/b64.json")" "^200 .*\"valid\":true.*$LOA4"
code=$(http_code "$T_URL/api/v1/validate/certificate" --data-binary "@$AUTH_PEM")
expect_eq "the validation API needs a client certificate: 403 on the public listener" "$code" 403

# ---- suspended, resumed, revoked ----------------------------------------------------------------------
AUTH_SERIAL=$(creds_serial "$AUTH_PEM")
SIGN_SERIAL=$(creds_serial "$SIGN_PEM")
card_suspend() {
	if [ $ENROLLED = 1 ]; then
		"$EFOSCTL" -c "$T_CONF" card suspend --card-id "$CARD_ID" --why "t_card_login" >>"$T/lifecycle.log" 2>&1
	else
		"$EFOSCTL" -c "$T_CONF" cert hold --serial "$AUTH_SERIAL" --why t_card_login >>"$T/lifecycle.log" 2>&1 &&
		"$EFOSCTL" -c "$T_CONF" cert hold --serial "$SIGN_SERIAL" --why t_card_login >>"$T/lifecycle.log" 2>&1 &&
		sql "UPDATE cards SET status = 'suspended', suspended_reason = 't_card_login' WHERE id = $CARD_ID" >/dev/null
	fi
}
card_resume() {
	if [ $ENROLLED = 1 ]; then
		"$EFOSCTL" -c "$T_CONF" card resume --card-id "$CARD_ID" --why "t_card_login" >>"$T/lifecycle.log" 2>&1
	else
		"$EFOSCTL" -c "$T_CONF" cert release --serial "$AUTH_SERIAL" --why t_card_login >>"$T/lifecycle.log" 2>&1 &&
		"$EFOSCTL" -c "$T_CONF" cert release --serial "$SIGN_SERIAL" --why t_card_login >>"$T/lifecycle.log" 2>&1 &&
		sql "UPDATE cards SET status = 'active', suspended_reason = NULL WHERE id = $CARD_ID" >/dev/null
	fi
}
card_revoke() {
	if [ $ENROLLED = 1 ]; then
		"$EFOSCTL" -c "$T_CONF" card revoke --card-id "$CARD_ID" --reason card-lost --why "t_card_login" >>"$T/lifecycle.log" 2>&1
	else
		"$EFOSCTL" -c "$T_CONF" cert revoke --serial "$AUTH_SERIAL" --reason card-lost --why t_card_login >>"$T/lifecycle.log" 2>&1 &&
		"$EFOSCTL" -c "$T_CONF" cert revoke --serial "$SIGN_SERIAL" --reason card-lost --why t_card_login >>"$T/lifecycle.log" 2>&1 &&
		sql "UPDATE cards SET status = 'revoked', revoked_at = now() WHERE id = $CARD_ID" >/dev/null
	fi
}

check "suspend the card" card_suspend
whoami auth "$AUTH_PEM"
expect_eq "whoami with the suspended card: 403" "$WHO_CODE" 403
expect_eq "... reason suspended" "$(field reason "$WHO_BODY")" suspended
expect_match "... certificateHold" "$WHO_BODY" "certificateHold"
proxy_whoami "$AUTH_PEM"
expect_eq "the suspended card through the proxy header: 403 suspended" "$WHO_CODE $(field reason "$WHO_BODY")" "403 suspended"
validate "$AUTH_PEM"
expect_eq "validate it: reason suspended" "$(field reason "$V_BODY")" suspended

check "resume the card" card_resume
whoami auth "$AUTH_PEM"
expect_eq "whoami after resuming: 200 again" "$WHO_CODE" 200

check "revoke the card (card lost)" card_revoke
whoami auth "$AUTH_PEM"
expect_eq "whoami with the revoked card: 403" "$WHO_CODE" 403
expect_eq "... reason revoked" "$(field reason "$WHO_BODY")" revoked
expect_match "... keyCompromise, with the time" "$WHO_BODY" "revoked at 20[0-9-]+T[0-9:]+Z, reason keyCompromise"
proxy_whoami "$AUTH_PEM"
expect_eq "the revoked card through the proxy header: 403 revoked" "$WHO_CODE $(field reason "$WHO_BODY")" "403 revoked"
validate "$AUTH_PEM"
expect_eq "validate it: reason revoked" "$(field reason "$V_BODY")" revoked
expect_match "... reason code 1 and its time" "$V_BODY" '"revocation":\{"reason":1,"time":"20'

efosd_alive && ok "efosd still running" || fail "efosd still running"
t_done
