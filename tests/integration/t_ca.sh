#!/usr/bin/env bash
# The CA: `efosctl ca init` against the test PostgreSQL and SoftHSM (idempotent, audited), an
# operator-issued TLS server certificate that verifies against the exported chain and shows the
# profile's extensions, `efosctl ca issue` refusals (forged CSR, weak keys), revoke/hold/release,
# and GET /ca/<name>.crt served by efosd.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-creds.sh"
t_init ca

POLICY_AUTH=2.25.195263442892063585598849581790911656791

# A run that fails half way (the card CA's key policy refuses the key type, after the root key
# was generated) leaves nothing: no CA rows, no audit events, no new keys in the token.
count_ca_keys() {
	EFOS_P11_PIN=$EFOS_TEST_HSM_PIN pkcs11-tool --module "$EFOS_TEST_HSM_MODULE" --token-label efos-hsm \
		--login --pin env:EFOS_P11_PIN --list-objects --type privkey 2>/dev/null | grep -c 'label: *efos-ca-'
}
awk '/^\[/{sec=$0} sec=="[card-ca]" && /^keys =/{$0="keys = rsa:3072"} {print}' "$CREDS_PROFILES" >"$T/bad-profiles.conf"
creds_conf "$T/bad.conf" "ca.profiles_file=$T/bad-profiles.conf" || { fail "write config"; t_done; }
migrate "$T_CONF" || fail "migrate"
keys_before=$(count_ca_keys)
out=$("$EFOSCTL" -c "$T_CONF" ca init --key-type ec:p256 2>&1); rc=$?
expect_eq "ca init fails when a CA's key policy refuses the key type" "$rc" 1
expect_match "... and says why" "$out" 'EC keys are not allowed by profile card-ca'
expect_eq "... leaves no CA in the database" "$(psql_as "$T_PG" -c 'SELECT count(*) FROM cas')" 0
expect_eq "... and no audit event" "$(psql_as "$T_PG" -c "SELECT count(*) FROM audit_log WHERE action LIKE 'ca.%' OR action = 'cert.issue'")" 0
expect_eq "... and deletes the keys it generated" "$(count_ca_keys)" "$keys_before"

creds_conf "$T/efos.conf" || { fail "write config"; t_done; }
if creds_ca_init ec:p256; then ok "efosctl ca init"; else fail "efosctl ca init"; t_done; fi
expect_match "ca init reports what it created" "$(tr '\n' ' ' <"$CREDS_CA_LOG")" \
	'CA root created.*CA card created.*CA sign created' 
expect_match "ca init made an OCSP signer per CA" "$(grep -c 'OCSP signer of CA .* issued' "$CREDS_CA_LOG")" '^3$'

# Idempotent: a second run keeps everything and says so.
out=$("$EFOSCTL" -c "$T_CONF" ca init --key-type ec:p256 2>&1); rc=$?
expect_eq "second ca init succeeds" "$rc" 0
expect_match "second ca init says already initialised" "$out" 'already initialised'
expect_eq "still three CAs" "$(psql_as "$T_PG" -c 'SELECT count(*) FROM cas')" 3

expect_eq "audit: ca.create x3, ca.ocsp_signer x3, ca.init x1" \
	"$(psql_as "$T_PG" -c "SELECT string_agg(action || ':' || n, ' ' ORDER BY action) FROM (SELECT action, count(*) n FROM audit_log WHERE action LIKE 'ca.%' GROUP BY action) a")" \
	"ca.create:3 ca.init:1 ca.ocsp_signer:3"
expect_eq "CA and OCSP signer certificates are in certificates (root self-issued)" \
	"$(psql_as "$T_PG" -c "SELECT count(*) FROM certificates")" 6
check "audit chain verifies" "$EFOSCTL" -c "$T_CONF" audit verify

# The CA chain.
check "card CA verifies against the root" openssl verify -CAfile "$CREDS_ROOT_PEM" "$CREDS_CARD_PEM"
check "sign CA verifies against the root" openssl verify -CAfile "$CREDS_ROOT_PEM" "$CREDS_SIGN_PEM"
card_text=$(openssl x509 -in "$CREDS_CARD_PEM" -noout -text)
expect_match "card CA: critical basicConstraints CA:TRUE, pathlen:0" "$card_text" 'CA:TRUE, pathlen:0'
expect_match "card CA: keyCertSign, cRLSign" "$card_text" 'Certificate Sign, CRL Sign'

out=$("$EFOSCTL" -c "$T_CONF" ca list 2>&1 | tr '\n' ' ')
expect_match "ca list names the three CAs" "$out" 'root.*card.*sign'

# An operator-issued TLS server certificate from a CSR.
creds_csr "$T/tls.key" "$T/tls.csr" "/CN=ignored" || fail "make CSR"
out=$(creds_issue tls-server "$T/tls.pem" --csr "$T/tls.csr" --o "EFOS test" --dns 127.0.0.1 --dns localhost 2>&1)
if [ $? -eq 0 ]; then ok "ca issue tls-server"; else fail "ca issue tls-server" "$out"; fi
check "tls-server verifies: openssl verify -CAfile root -untrusted card" \
	openssl verify -CAfile "$CREDS_ROOT_PEM" -untrusted "$CREDS_CARD_PEM" -purpose sslserver "$T/tls.pem"
text=$(openssl x509 -in "$T/tls.pem" -noout -text)
expect_match "tls-server: EKU serverAuth" "$text" 'TLS Web Server Authentication'
expect_match "tls-server: SAN" "$text" 'IP Address:127.0.0.1, DNS:localhost'
expect_match "tls-server: AIA OCSP" "$text" "OCSP - URI:$T_URL/ocsp"
expect_match "tls-server: AIA caIssuers" "$text" "CA Issuers - URI:$T_URL/ca/card.crt"
expect_match "tls-server: CRL distribution point" "$text" "URI:$T_URL/crl/card.crl"
expect_match "tls-server: subject CN from --dns, C=SE" "$text" 'Subject: C ?= ?SE, O ?= ?EFOS test, CN ?= ?127.0.0.1'
serial=$(openssl x509 -in "$T/tls.pem" -noout -serial | sed 's/serial=//')
expect_match "serial is 128 bits (16 bytes, positive)" "$serial" '^[4-7][0-9A-F]{31}$'
expect_match "ca issue audited" "$(psql_as "$T_PG" -c "SELECT details->>'profile' FROM audit_log WHERE action = 'cert.issue' AND object = lower('$serial')")" '^tls-server$'

# A card authentication certificate carries the high-assurance policy OID.
creds_csr "$T/auth.key" "$T/auth.csr" "/CN=x" || fail "make CSR"
out=$(creds_issue card-auth "$T/auth.pem" --csr "$T/auth.csr" --o "Testmyndigheten" --org-id 2021000001 \
	--given-name Anna --surname Andersson --serial-number 198001012384 --cn "Anna Andersson" 2>&1)
if [ $? -eq 0 ]; then ok "ca issue card-auth"; else fail "ca issue card-auth" "$out"; fi
text=$(openssl x509 -in "$T/auth.pem" -noout -text 2>/dev/null)
expect_match "card-auth: policy OID" "$text" "Policy: $POLICY_AUTH"
expect_match "card-auth: EKU clientAuth" "$text" 'TLS Web Client Authentication'
expect_match "card-auth: keyUsage critical digitalSignature" "$(printf '%s' "$text" | grep -A1 'Key Usage: critical')" 'Digital Signature'
check "card-auth verifies for sslclient" \
	openssl verify -CAfile "$CREDS_ROOT_PEM" -untrusted "$CREDS_CARD_PEM" -purpose sslclient "$T/auth.pem"
out=$(creds_issue card-auth "$T/auth2.pem" --csr "$T/auth.csr" --cn "No Serial" 2>&1)
expect_match "card-auth without the mandatory subject values is refused" "$out" 'needs a value for the subject attribute'

# Refusals.
creds_csr "$T/weak.key" "$T/weak.csr" "/CN=weak" rsa:1024
out=$(creds_issue tls-server "$T/weak.pem" --csr "$T/weak.csr" --dns localhost 2>&1)
expect_match "RSA-1024 refused" "$out" 'RSA key of 1024 bits is below the 2048 required by profile tls-server'
creds_csr "$T/p224.key" "$T/p224.csr" "/CN=p224" ec:P-224
out=$(creds_issue tls-server "$T/p224.pem" --csr "$T/p224.csr" --dns localhost 2>&1)
expect_match "P-224 refused" "$out" 'curve secp224r1 is not allowed'
# A forged proof of possession: the CSR's public key replaced by another one.
creds_csr "$T/other.key" "$T/other.csr" "/CN=other"
python3 - "$T/tls.csr" "$T/other.csr" "$T/forged.csr" <<'PY' || fail "forge CSR"
import subprocess, sys
def der(p): return subprocess.run(["openssl","req","-in",p,"-outform","DER"],capture_output=True,check=True).stdout
def spki(p):
    return subprocess.run(["openssl","req","-in",p,"-pubkey","-noout"],capture_output=True,check=True).stdout
import base64
a, b = der(sys.argv[1]), der(sys.argv[2])
ka = base64.b64decode(b"".join(spki(sys.argv[1]).split(b"\n")[1:-2]))
kb = base64.b64decode(b"".join(spki(sys.argv[2]).split(b"\n")[1:-2]))
assert ka in a and len(ka) == len(kb)
open(sys.argv[3], "wb").write(a.replace(ka, kb))
PY
out=$(creds_issue tls-server "$T/forged.pem" --csr "$T/forged.csr" --dns localhost 2>&1)
expect_match "forged CSR refused" "$out" 'no proof of possession'
[ ! -e "$T/forged.pem" ] && ok "nothing written for a refused request" || fail "nothing written for a refused request"

# Lifecycle of a serial.
s=$(creds_serial "$T/auth.pem")
check "cert hold" "$EFOSCTL" -c "$T_CONF" cert hold --serial "$s" --why "test"
expect_eq "status hold, reason certificateHold" "$(psql_as "$T_PG" -c "SELECT status || ' ' || revocation_reason FROM certificates WHERE serial = '\\x$s'")" "hold 6"
check "cert release" "$EFOSCTL" -c "$T_CONF" cert release --serial "$s"
check "cert revoke" "$EFOSCTL" -c "$T_CONF" cert revoke --serial "$s" --reason card-lost --why "lost on the train"
expect_eq "status revoked keyCompromise" "$(psql_as "$T_PG" -c "SELECT status || ' ' || revocation_reason FROM certificates WHERE serial = '\\x$s'")" "revoked 1"
out=$("$EFOSCTL" -c "$T_CONF" cert hold --serial "$s" 2>&1)
expect_match "a revoked certificate stays revoked" "$out" 'revoked already'
expect_eq "the card CA's CRL is marked dirty" "$(psql_as "$T_PG" -c "SELECT crl_dirty FROM cas WHERE name = 'card'")" t
expect_eq "audit: hold, release, revoke with why" \
	"$(psql_as "$T_PG" -c "SELECT string_agg(action, ' ' ORDER BY id) FROM audit_log WHERE object = '$s' AND action <> 'cert.issue'")" \
	"cert.hold cert.release cert.revoke"
out=$("$EFOSCTL" -c "$T_CONF" cert revoke --serial 0102 --reason superseded 2>&1)
expect_match "unknown serial named" "$out" 'no certificate with serial 0102'

# efosd's own TLS key in the HSM, certified by the card CA (ca issue --key-uri).
tls_uri=$("$EFOSCTL" -c "$T_CONF" hsm keygen --label "t-ca-tls-$$" --type ec:p256 2>&1)
if [ $? -eq 0 ]; then ok "hsm keygen for efosd's TLS key"; else fail "hsm keygen for efosd's TLS key" "$tls_uri"; fi
t_on_exit "creds_hsm_delete_uri '$tls_uri'"
out=$(creds_issue tls-server "$T/efosd-tls.pem" --key-uri "$tls_uri" --o "EFOS test" --dns 127.0.0.1 --dns localhost --chain 2>&1)
if [ $? -eq 0 ]; then ok "ca issue --key-uri (TLS key in the HSM) --chain"; else fail "ca issue --key-uri --chain" "$out"; fi
expect_eq "--chain: leaf, card CA, root" "$(grep -c 'BEGIN CERTIFICATE' "$T/efosd-tls.pem")" 3
sed -i -e "s|^tls.cert = .*|tls.cert = $T/efosd-tls.pem|" -e "s|^tls.key = .*|tls.key = $tls_uri|" "$T_CONF"
# From here on clients trust the EFOS root (http_code uses $T_TLS/ca.crt).
mkdir -p "$T/efos-trust" && cp "$CREDS_ROOT_PEM" "$T/efos-trust/ca.crt" && T_TLS=$T/efos-trust

# efosd serves the CA certificates, over TLS with the EFOS-issued certificate.
if efosd_start "$T_CONF"; then ok "efosd starts with role ca and the EFOS TLS certificate"; else fail "efosd starts with role ca and the EFOS TLS certificate"; t_done; fi
curl -s --cacert "$T_TLS/ca.crt" -o "$T/card.der" -w '%{http_code} %{content_type}' "$T_URL/ca/card.crt" >"$T/curl.out"
expect_eq "GET /ca/card.crt" "$(cat "$T/curl.out")" "200 application/pkix-cert"
expect_eq "served card CA = exported card CA" \
	"$(openssl x509 -inform DER -in "$T/card.der" -noout -fingerprint -sha256 2>&1)" \
	"$(openssl x509 -in "$CREDS_CARD_PEM" -noout -fingerprint -sha256)"
expect_eq "GET /ca/nope.crt is 404" "$(http_code "$T_URL/ca/nope.crt")" 404
expect_eq "GET /ca/root.crt" "$(http_code "$T_URL/ca/root.crt")" 200
efosd_stop
expect_eq "efosd with the CA service stops cleanly" "$T_EXIT" 0
if grep -q 'Sanitizer' "$T_LOG"; then fail "no sanitizer report in the efosd log"; else ok "no sanitizer report in the efosd log"; fi

t_done
