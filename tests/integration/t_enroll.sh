#!/usr/bin/env bash
# Card enrollment end to end (issue 3): `efosctl card enroll` as the registration officer on a
# fresh SoftHSM token standing in for the card: keys generated on the card and non-extractable,
# CSRs signed by the card keys, certificates issued on hold, written onto the card next to their
# keys, confirmed; they verify against the served chain and, with the served CRL, -crl_check; OCSP
# says good. Refusals, each with its own message: an officer without a role for the organisation,
# an unproofed person, a forged proof of possession, a weak key, a card already active. A crash
# between begin and confirm (EFOS_TEST_CRASH_AFTER=begin) leaves a pending card whose
# certificates are on hold, and the sweeper abandons it and revokes them after the timeout.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-creds.sh"
t_init t_enroll

PENDING_TIMEOUT=6
creds_conf "$T/efos.conf" "node.roles=ca admin" ca.enroll_pending_timeout=$PENDING_TIMEOUT \
	ca.crl_validity=7200 ca.crl_reissue_before=600 ca.ocsp_reuse_window=0 || { fail "write config"; t_done; }
creds_ca_init ec:p256 || { fail "efosctl ca init"; t_done; }
efosd_start "$T_CONF" || { fail "efosd start"; t_done; }
ok "efosd with the CA started"

ORGNR=2021000001
OTHER_ORGNR=2021000019
PNR=198001011231
PNR_UNPROOFED=198001011249

# --- the officer and the registry (rows by SQL: creds_card_sql_*) -------------------------------
sql() { psql_as "$T_PG_SUPER" -c "$1"; }
cert_sha256() { openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }
officer_row() { creds_card_sql_officer "$@"; }
person_row() { creds_card_sql_person "$@"; }
registry_setup() {
	sql "INSERT INTO organisations (orgnr, name) VALUES ('$ORGNR', 'Testmyndigheten'), ('$OTHER_ORGNR', 'Andra verket')" >/dev/null &&
	officer_row "Test Officer" "$T_TLS/client.crt" registration_officer "$ORGNR" &&
	person_row "$PNR" "Tjänste" "Person" "$ORGNR" tperson yes &&
	person_row "$PNR_UNPROOFED" "Oprövad" "Person" "$ORGNR" operson no
}
registry_setup || { fail "registry and officer set-up"; t_done; }
export EFOS_MTLS_URL=$T_MTLS_URL EFOS_CA_PEM=$T_TLS/ca.crt EFOS_OFFICER_CERT=$T_TLS/client.crt \
	EFOS_OFFICER_KEY=$T_TLS/client.key

# --- a card enrolled end to end ------------------------------------------------------------------
CARD=card-enr-$$
creds_card_token "$CARD" || { fail "card token"; t_done; }
if creds_enroll_card "$CARD" "$PNR" "$ORGNR"; then ok "efosctl card enroll"; else fail "efosctl card enroll" "$(cat "$CREDS_CARD_LOG")"; t_done; fi
expect_match "enroll prints the card id and certificate serials" "$(cat "$CREDS_CARD_LOG")" 'card_id [0-9]+'
expect_eq "the card is active in the database" "$(sql "SELECT status FROM cards WHERE id = $CREDS_CARD_ID")" active
expect_eq "its two certificates are good" \
	"$(sql "SELECT string_agg(profile || ':' || status, ' ' ORDER BY profile) FROM certificates WHERE card_id = $CREDS_CARD_ID")" \
	"card-auth:good card-sign:good"
expect_eq "the token serial is the card's" "$(sql "SELECT token_serial FROM cards WHERE id = $CREDS_CARD_ID")" "$CREDS_CARD_TOKEN_SERIAL"

objs=$(creds_card_p11 "$CARD" --list-objects 2>&1)
expect_match "card holds private keys auth and sign" "$(printf '%s\n' "$objs" | grep -A2 'Private Key' | tr '\n' ' ')" 'label: +auth.*label: +sign|label: +sign.*label: +auth'
expect_match "card private keys are sensitive, never extractable" \
	"$(printf '%s\n' "$objs" | grep -A6 'Private Key' | grep 'Access:' | sort -u | tr '\n' ' ')" \
	'^[[:space:]]*Access: +sensitive, always sensitive, never extractable, local *$'
rm -f "$T/stolen.der"
creds_card_p11 "$CARD" --read-object --type privkey --label auth -o "$T/stolen.der" >"$T/stolen.log" 2>&1
if [ -s "$T/stolen.der" ]; then fail "pkcs11-tool --read-object --type privkey must not give the key"
else ok "the private key cannot be read off the card (pkcs11-tool --read-object --type privkey gives nothing)"; fi
creds_card_p11 "$CARD" --read-object --type cert --label auth -o "$T/auth-card.der" >/dev/null 2>&1
openssl x509 -inform DER -in "$T/auth-card.der" -out "$T/auth-card.pem" 2>/dev/null
expect_eq "the auth certificate on the card is the issued one (CKA_ID 01, next to its key)" \
	"$(cert_sha256 "$T/auth-card.pem")" "$(cert_sha256 "$CREDS_CARD_AUTH_PEM")"
expect_match "certificate objects carry the keys' ids" "$(printf '%s\n' "$objs" | grep -A4 'Certificate Object' | grep 'ID:' | tr -d ' ' | sort | tr '\n' ' ')" 'ID:01 ID:02'

# The served chain and CRL.
curl -sf --cacert "$T_TLS/ca.crt" -o "$T/card-ca.pem.der" "$T_URL/ca/card.crt" &&
	{ openssl x509 -inform DER -in "$T/card-ca.pem.der" -out "$T/served-card.pem" 2>/dev/null || cp "$T/card-ca.pem.der" "$T/served-card.pem"; }
check "auth certificate verifies: openssl verify -CAfile root -untrusted served card CA" \
	openssl verify -CAfile "$CREDS_ROOT_PEM" -untrusted "$T/served-card.pem" -purpose sslclient "$CREDS_CARD_AUTH_PEM"
check "sign certificate verifies" openssl verify -CAfile "$CREDS_ROOT_PEM" -untrusted "$CREDS_CARD_PEM" "$CREDS_CARD_SIGN_PEM"
text=$(openssl x509 -in "$CREDS_CARD_AUTH_PEM" -noout -text -nameopt RFC2253)
expect_match "auth subject from the registry (serialNumber = personnummer, organizationIdentifier)" "$text" \
	"Subject: .*serialNumber=$PNR"
expect_match "auth certificate: clientAuth, digitalSignature" "$text" 'TLS Web Client Authentication'
expect_match "auth certificate: the high-assurance policy" "$text" '2\.25\.195263442892063585598849581790911656791'

crl_fresh() {
	curl -sf --cacert "$T_TLS/ca.crt" -o "$T/card.crl.der" "$T_URL/crl/card.crl" &&
		openssl crl -inform DER -in "$T/card.crl.der" -out "$T/card.crl.pem" 2>/dev/null
}
wait_for 10 crl_fresh
cat "$CREDS_ROOT_PEM" >"$T/root-crl.pem"
check "openssl verify -crl_check with the served CRL" \
	openssl verify -crl_check -CAfile "$CREDS_ROOT_PEM" -untrusted "$CREDS_CARD_PEM" -CRLfile "$T/card.crl.pem" "$CREDS_CARD_AUTH_PEM"
expect_eq "OCSP: the auth certificate is good" "$(creds_ocsp_status "$CREDS_CARD_AUTH_PEM")" good
expect_eq "audit: card.enroll.begin and card.enroll.confirm" \
	"$(sql "SELECT string_agg(action, ' ' ORDER BY id) FROM audit_log WHERE action LIKE 'card.enroll.%' AND object = '$CREDS_CARD_ID'")" \
	"card.enroll.begin card.enroll.confirm"

# --- refusals ----------------------------------------------------------------------------------------
# begin_json TOKEN_SERIAL PNR AUTH_CSR SIGN_CSR [ORGNR]
begin_json() {
	python3 -c 'import json,sys; print(json.dumps({"pnr": sys.argv[2], "orgnr": sys.argv[5], "token_serial": sys.argv[1],
		"csrs": {"auth": open(sys.argv[3]).read(), "sign": open(sys.argv[4]).read()}}))' "$1" "$2" "$3" "$4" "${5:-$ORGNR}"
}
# api_begin CERT KEY JSON: prints "STATUS BODY"
api_begin() {
	local code
	code=$(curl -s -o "$T/resp.json" -w '%{http_code}' --max-time 30 --cacert "$T_TLS/ca.crt" --cert "$1" --key "$2" \
		-H 'Content-Type: application/json' --data-binary "$3" "$T_MTLS_URL/api/v1/enroll/begin")
	echo "$code $(cat "$T/resp.json" 2>/dev/null)"
}
PNR_R=197001011233   # proofed, no card: the CSR checks come after the card checks
person_row "$PNR_R" "Refuse" "Person" "$ORGNR" rperson yes
creds_csr "$T/a.key" "$T/a.csr" "/CN=a" ec:P-256
creds_csr "$T/s.key" "$T/s.csr" "/CN=s" ec:P-256

# An officer whose role is for another organisation.
(
	cd "$T" && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out off2.key 2>/dev/null &&
	openssl req -new -key off2.key -subj "/O=EFOS test/CN=Other Officer" -out off2.csr 2>/dev/null &&
	printf 'basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >off2.ext &&
	openssl x509 -req -in off2.csr -CA "$T_TLS/client-ca.crt" -CAkey "$T_TLS/client-ca.key" -set_serial 0x$(openssl rand -hex 12) \
		-days 30 -extfile off2.ext -out off2.crt 2>/dev/null
) && officer_row "Other Officer" "$T/off2.crt" registration_officer "$OTHER_ORGNR"
CARD2=card-enr2-$$
creds_card_token "$CARD2"
out=$(EFOS_OFFICER_CERT=$T/off2.crt EFOS_OFFICER_KEY=$T/off2.key creds_enroll_card "$CARD2" "$PNR" "$ORGNR"; cat "$CREDS_CARD_LOG")
expect_match "refused: officer without a role for the organisation (403, names the action)" "$out" \
	'HTTP 403.*has no role allowing card.enroll for organisation 2021000001'
expect_eq "refusal audited as denied" \
	"$(sql "SELECT count(*) FROM audit_log WHERE action = 'card.enroll.begin' AND outcome = 'denied'")" 1

expect_eq "the refused card is blank again (efosctl took its keys off)" \
	"$(creds_card_p11 "$CARD2" --list-objects 2>/dev/null | grep -c 'Object;')" 0
out=$(creds_enroll_card "$CARD2" "$PNR_UNPROOFED" "$ORGNR"; cat "$CREDS_CARD_LOG")
expect_match "refused: person without identity proofing" "$out" 'HTTP 403.*(no valid identity proofing|never proofed)'

# Forged proof of possession: the auth CSR's signature with a flipped byte.
openssl req -in "$T/a.csr" -outform DER -out "$T/a.der"
python3 - "$T/a.der" "$T/forged.der" <<'PY'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
d[-5] ^= 0x5a          # inside the signature BIT STRING at the end
open(sys.argv[2], 'wb').write(d)
PY
openssl req -inform DER -in "$T/forged.der" -out "$T/forged.csr" 2>/dev/null || cp "$T/forged.der" "$T/forged.csr"
out=$(api_begin "$T_TLS/client.crt" "$T_TLS/client.key" "$(begin_json FORGED1 "$PNR_R" "$T/forged.csr" "$T/s.csr")")
expect_match "refused: forged proof of possession (CSR signature does not verify)" "$out" \
	'^400 .*auth key CSR: CSR signature does not verify with its public key: no proof of possession'
# A CSR for the auth key whose request info is signed by another key (s.key).
python3 - "$T/a.der" "$T/info.der" <<'PY'
import sys
d = open(sys.argv[1], 'rb').read()
def tlv(b, i):   # header length, value length
    l = b[i + 1]
    if l & 0x80:
        n = l & 0x7f
        return 2 + n, int.from_bytes(b[i + 2:i + 2 + n], 'big')
    return 2, l
h, _ = tlv(d, 0)
h2, l2 = tlv(d, h)
open(sys.argv[2], 'wb').write(d[h:h + h2 + l2])    # CertificationRequestInfo
PY
openssl dgst -sha256 -sign "$T/s.key" -out "$T/info.sig" "$T/info.der"
python3 - "$T/info.der" "$T/info.sig" "$T/swapped.csr" <<'PY'
import sys, base64
def enc(tag, body):
    n = len(body)
    if n < 128:
        return bytes([tag, n]) + body
    ln = n.to_bytes((n.bit_length() + 7) // 8, 'big')
    return bytes([tag, 0x80 | len(ln)]) + ln + body
info = open(sys.argv[1], 'rb').read()
sig = open(sys.argv[2], 'rb').read()
algid = enc(0x30, bytes.fromhex('06082a8648ce3d040302'))    # ecdsa-with-SHA256
der = enc(0x30, info + algid + enc(0x03, b'\x00' + sig))
open(sys.argv[3], 'w').write('-----BEGIN CERTIFICATE REQUEST-----\n' + base64.encodebytes(der).decode() +
                             '-----END CERTIFICATE REQUEST-----\n')
PY
out=$(api_begin "$T_TLS/client.crt" "$T_TLS/client.key" "$(begin_json FORGED2 "$PNR_R" "$T/swapped.csr" "$T/s.csr")")
expect_match "refused: CSR carrying another key than the one that signed it" "$out" '^400 .*no proof of possession'

# A weak key: RSA-1024.
creds_csr "$T/weak.key" "$T/weak.csr" "/CN=w" rsa:1024
out=$(api_begin "$T_TLS/client.crt" "$T_TLS/client.key" "$(begin_json WEAK1 "$PNR_R" "$T/weak.csr" "$T/s.csr")")
expect_match "refused: RSA-1024 key (below the profile's 2048)" "$out" '^400 .*RSA key of 1024 bits is below the 2048 required by profile card-auth'

# The same card (token serial) again.
out=$(api_begin "$T_TLS/client.crt" "$T_TLS/client.key" "$(begin_json "$CREDS_CARD_TOKEN_SERIAL" "$PNR" "$T/a.csr" "$T/s.csr")")
expect_match "refused: card already active (same token serial)" "$out" "^409 .*card already active: token serial $CREDS_CARD_TOKEN_SERIAL is card $CREDS_CARD_ID"
# Re-enrolling the same (non-blank) card with efosctl is refused on the workstation already.
out=$(creds_enroll_card "$CARD" "$PNR" "$ORGNR"; cat "$CREDS_CARD_LOG")
expect_match "efosctl refuses a card that is not blank" "$out" 'is not blank'
# A second card for a person who has a live card for the affiliation.
out=$(api_begin "$T_TLS/client.crt" "$T_TLS/client.key" "$(begin_json OTHERTOKEN1 "$PNR" "$T/a.csr" "$T/s.csr")")
expect_match "refused: the person already has an active card for the organisation" "$out" '^409 .*already has a active card'
expect_eq "no card or certificate was created by the refusals" \
	"$(sql "SELECT count(*) FROM cards")/$(sql "SELECT count(*) FROM certificates WHERE card_id IS NOT NULL")" "1/2"

# --- a crash between begin and confirm ---------------------------------------------------------------
PNR_CRASH=197505052345
person_row "$PNR_CRASH" "Krasch" "Person" "$ORGNR" kperson yes
CARD3=card-enr3-$$
creds_card_token "$CARD3"
EFOS_TEST_CRASH_AFTER=begin creds_enroll_card "$CARD3" "$PNR_CRASH" "$ORGNR"
expect_eq "efosctl killed after begin (test hook exit 9)" "$?" 9
cid=$(sql "SELECT id FROM cards WHERE person_id = (SELECT id FROM persons WHERE pnr = '$PNR_CRASH')")
expect_eq "the card is pending" "$(sql "SELECT status FROM cards WHERE id = $cid")" pending
expect_eq "its certificates are on hold" \
	"$(sql "SELECT string_agg(status, ' ') FROM certificates WHERE card_id = $cid")" "hold hold"
sql "SELECT encode(der, 'base64') FROM certificates WHERE card_id = $cid AND profile = 'card-auth'" |
	{ echo '-----BEGIN CERTIFICATE-----'; tr -d '\n' | fold -w 64; echo; echo '-----END CERTIFICATE-----'; } >"$T/pending-auth.pem"
expect_eq "OCSP: the pending card's auth certificate is not good (certificateHold)" \
	"$(creds_ocsp_status "$T/pending-auth.pem")" "revoked certificateHold"
# efosd dies too (SIGKILL) while the card is pending: the sweeper of the restarted node cleans up.
kill -KILL "$T_PID" 2>/dev/null; wait "$T_PID" 2>/dev/null; T_PID=
efosd_start "$T_CONF" || { fail "efosd restart after SIGKILL"; t_done; }
expect_eq "after efosd was killed the card is still pending, certificates on hold" \
	"$(sql "SELECT c.status || ' ' || string_agg(x.status, ' ') FROM cards c JOIN certificates x ON x.card_id = c.id WHERE c.id = $cid GROUP BY c.status")" \
	"pending hold hold"
confirm_out=$(EFOS_CARD_PIN=$CREDS_CARD_PIN "$EFOSCTL" card confirm --card-id "$cid" --module "$EFOS_TEST_HSM_MODULE" \
	--token "$CARD3" --pin-env EFOS_CARD_PIN 2>&1)
expect_match "confirm without certificates on the card is refused" "$confirm_out" 'has no auth certificate'
abandoned() { [ "$(sql "SELECT status FROM cards WHERE id = $cid")" = abandoned ]; }
if wait_for $((PENDING_TIMEOUT + 15)) abandoned; then ok "the sweeper abandoned the card after ca.enroll_pending_timeout"
else fail "card $cid not abandoned" "$(sql "SELECT status, pending_until, now() FROM cards WHERE id = $cid")"; fi
expect_eq "its certificates are revoked (cessationOfOperation)" \
	"$(sql "SELECT string_agg(status || ':' || revocation_reason, ' ') FROM certificates WHERE card_id = $cid")" \
	"revoked:5 revoked:5"
ocsp_cessation() { [ "$(creds_ocsp_status "$T/pending-auth.pem")" = "revoked cessationOfOperation" ]; }
wait_for 5 ocsp_cessation
expect_eq "OCSP: revoked (cessationOfOperation)" "$(creds_ocsp_status "$T/pending-auth.pem")" "revoked cessationOfOperation"
expect_eq "audited: card.abandon" "$(sql "SELECT actor FROM audit_log WHERE action = 'card.abandon' AND object = '$cid'")" enroll-sweeper

# The same card can be enrolled again after erasing it (the abandoned card is not live).
if creds_enroll_card "$CARD3" "$PNR_CRASH" "$ORGNR" --init --erase --label "$CARD3"; then
	ok "an abandoned card is enrolled again after --init --erase"
else fail "re-enroll after abandonment" "$(cat "$CREDS_CARD_LOG")"; fi

# A crash after the certificates reached the card: `efosctl card confirm` finishes it.
PNR_W=199002023456
person_row "$PNR_W" "Skriv" "Person" "$ORGNR" wperson yes
CARD4=card-enr4-$$
creds_card_token "$CARD4"
EFOS_TEST_CRASH_AFTER=write creds_enroll_card "$CARD4" "$PNR_W" "$ORGNR"
cid=$(sql "SELECT id FROM cards WHERE person_id = (SELECT id FROM persons WHERE pnr = '$PNR_W')")
out=$(EFOS_CARD_PIN=$CREDS_CARD_PIN "$EFOSCTL" card confirm --card-id "$cid" --module "$EFOS_TEST_HSM_MODULE" \
	--token "$CARD4" --pin-env EFOS_CARD_PIN 2>&1)
expect_match "efosctl card confirm finishes an enrollment interrupted after writing" "$out" 'status active'

# Blank, uninitialised card: efosctl initialises it (--init) in SoftHSM's free slot.
slot=$(softhsm2-util --show-slots 2>/dev/null | awk '/^Slot [0-9]+/ {s=$2} /Initialized:[[:space:]]*no/ {print s; exit}')
PNR_I=196505057775
if [ -n "$slot" ]; then
	person_row "$PNR_I" "Blank" "Kort" "$ORGNR" bperson yes
	CARD5=card-enr5-$$
	t_on_exit "softhsm2-util --delete-token --token '$CARD5' >/dev/null 2>&1"
	out=$(EFOS_CARD_SO_PIN=$CREDS_CARD_SO_PIN EFOS_CARD_PIN=$CREDS_CARD_PIN "$EFOSCTL" card enroll --module "$EFOS_TEST_HSM_MODULE" \
		--slot "$slot" --init --label "$CARD5" --pnr "$PNR_I" --org "$ORGNR" --so-pin-env EFOS_CARD_SO_PIN \
		--pin-env EFOS_CARD_PIN --key-type ec:p256 2>&1)
	expect_match "an uninitialised card is initialised (C_InitToken) and enrolled" "$(printf '%s' "$out" | tr '\n' ' ')" \
		'initialised the card.*status active'
else
	ok "# SKIP no free SoftHSM slot"
fi

check "audit chain verifies" "$EFOSCTL" -c "$T_CONF" audit verify
t_done
