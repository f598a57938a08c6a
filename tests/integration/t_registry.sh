#!/usr/bin/env bash
# The registry through the admin API over mTLS, as officers authenticated by certificates the
# EFOS CA issued: the first officer is bootstrapped on the server (efosctl officer add
# --bootstrap), then organisations, persons (bad personnummer refused with its reason),
# affiliations, proofings, officers and roles through `efosctl` as that officer. An officer
# whose role is only in organisation X is refused (403) for organisation Y; requests without a
# client certificate, or with one that is not a registered officer, are refused; every change
# and every refusal is audited and the audit chain stays intact.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-creds.sh"
t_init t_registry

creds_conf "$T/efos.conf" || { fail "write config"; t_done; }
creds_ca_init; check "efosctl ca init" test $? -eq 0
creds_bootstrap_officer "Olle Officer"; check "bootstrap officer (efosctl officer add --bootstrap)" test $? -eq 0
out=$("$EFOSCTL" -c "$T_CONF" officer add --bootstrap --cert "$CREDS_OFFICER_CERT" --name again 2>&1); rc=$?
expect_eq "a second bootstrap is refused: exit 1" "$rc" 1
expect_match "a second bootstrap says why" "$out" "active ca_admin officer exists already"
efosd_start "$T_CONF"; check "efosd starts" test $? -eq 0
creds_officer_env

# output of efosctl on one line (multi-line matches)
ctl() { "$EFOSCTL" "$@" 2>&1 | tr '\n' ' '; return "${PIPESTATUS[0]}"; }

out=$(ctl officer whoami); rc=$?
expect_eq "officer whoami: exit 0" "$rc" 0
expect_match "whoami names the officer and its ca_admin role" "$out" "Olle Officer.*role ca_admin for every organisation"

# --- organisations
out=$(ctl org add --orgnr 2021000001 --name Demo-myndigheten); rc=$?
expect_eq "org add 2021000001: exit 0" "$rc" 0
out=$(ctl org add --orgnr 2021000001 --name Again); rc=$?
expect_eq "org add twice: exit 1" "$rc" 1
expect_match "org add twice: 409 registered already" "$out" "HTTP 409.*registered already"
out=$(ctl org add --orgnr 2021000002 --name Bad); rc=$?
expect_eq "org add with a bad checksum: exit 1" "$rc" 1
expect_match "org add with a bad checksum: 400 with the reason" "$out" "HTTP 400.*organisationsnummer 2021000002: checksum digit is wrong \(expected 1\)"
out=$(ctl org add --orgnr 5510000002 --name Bad); rc=$?
expect_match "org number with third digit < 2 refused" "$out" "third digit must be 2 or more"
out=$(ctl org add --orgnr 2120000142 --name Andra-myndigheten); rc=$?
expect_eq "org add 2120000142: exit 0" "$rc" 0
out=$(ctl org list); rc=$?
expect_match "org list shows both" "$out" "2021000001.*Demo-myndigheten.*2120000142"

# --- persons
out=$(ctl person add --pnr 197001011234 --given-name Anna --surname Berg); rc=$?
expect_eq "person with a bad personnummer: exit 1" "$rc" 1
expect_match "bad personnummer refused with its reason (400)" "$out" "HTTP 400.*personnummer 197001011234: checksum digit is wrong \(expected 3\)"
out=$(ctl person add --pnr 197002301230 --given-name Anna --surname Berg); rc=$?
expect_match "personnummer with a date that does not exist refused" "$out" "day 30 does not exist in 1970-02"
out=$(ctl person add --pnr 7001011233 --given-name Anna --surname Berg); rc=$?
expect_match "10-digit personnummer refused: give all 12 digits" "$out" "give all 12 digits"
out=$(ctl person add --pnr 197001011233 --given-name Anna --surname Berg --org 2021000001); rc=$?
expect_eq "person add 197001011233: exit 0" "$rc" 0
expect_match "display name defaults to Given Surname" "$out" "197001011233 +active +Anna Berg "
out=$(ctl person add --pnr 197001611230 --given-name Sam --surname Ordning --display-name "Sam O."); rc=$?
expect_eq "person add with a samordningsnummer: exit 0" "$rc" 0
expect_match "samordningsnummer is flagged" "$out" "\[samordningsnummer\]"
out=$(ctl person add --pnr 197001011233 --given-name Anna --surname Berg); rc=$?
expect_match "the same person twice: 409" "$out" "HTTP 409.*registered already"

# --- affiliations and proofings
out=$(ctl affiliation add --pnr 197001011233 --org 2021000001 --local-id aberg --title Handläggare); rc=$?
expect_eq "affiliation add: exit 0" "$rc" 0
expect_match "affiliation is aberg@2021000001" "$out" "aberg@2021000001 +active +Demo-myndigheten, Handläggare"
out=$(ctl affiliation add --pnr 197001611230 --org 2021000001 --local-id aberg); rc=$?
expect_match "a local id taken in the organisation: 409" "$out" "HTTP 409.*local id aberg is already used in organisation 2021000001"
out=$(ctl affiliation add --pnr 197001611230 --org 2120000142 --local-id "bad id"); rc=$?
expect_match "a bad local id: 400" "$out" "HTTP 400.*local id"
out=$(ctl affiliation add --pnr 197001611230 --org 2120000142 --local-id sord); rc=$?
expect_eq "affiliation of the second person with the second org: exit 0" "$rc" 0
out=$(ctl proof record --pnr 197001011233 --document-type passport --document-number AB1234567 --checked); rc=$?
expect_eq "proof record: exit 0" "$rc" 0
expect_match "proofing is valid for ca.proofing_validity_days" "$out" "passport AB1234567, in person by officer $CREDS_OFFICER_ID"
out=$(ctl proof record --pnr 197001011233 --document-type library_card --document-number 1 --checked); rc=$?
expect_match "unknown document type: 400" "$out" "HTTP 400.*document type \"library_card\" is not one of"
out=$(ctl proof record --pnr 197001011233 --document-type passport --document-number 1); rc=$?
expect_eq "proof record without --checked: usage error (2)" "$rc" 2
out=$(ctl person show 197001011233); rc=$?
expect_match "person show lists affiliation and proofing" "$out" "affiliation [0-9]+: aberg@2021000001.*proofing [0-9]+: passport"

# --- a second officer, registration_officer only for 2021000001
creds_officer_cert "Rut Registrator" "$CREDS_DIR/rut" || fail "issue Rut's certificate"
out=$(ctl officer add --cert "$CREDS_DIR/rut.pem" --name "Rut Registrator" --role registration_officer --org 2021000001); rc=$?
expect_eq "officer add (as ca_admin over mTLS): exit 0" "$rc" 0
expect_match "Rut has registration_officer for 2021000001 only" "$out" "role registration_officer for organisation 2021000001"
rut_id=$(printf '%s\n' "$out" | sed -n 's/.*officer \([0-9]*\): Rut.*/\1/p' | head -1)
asrut() { EFOS_OFFICER_CERT=$CREDS_DIR/rut.pem EFOS_OFFICER_KEY=$CREDS_DIR/rut.key "$EFOSCTL" "$@" 2>&1 | tr '\n' ' '; return "${PIPESTATUS[0]}"; }
out=$(asrut person add --pnr 198001011230 --given-name Rolf --surname Roll --org 2021000001); rc=$?
if [ "$rc" -ne 0 ] && printf '%s' "$out" | grep -q "checksum"; then
	pnr3=$(printf '%s' "$out" | sed -n 's/.*expected \([0-9]\).*/19800101123\1/p')
	out=$(asrut person add --pnr "$pnr3" --given-name Rolf --surname Roll --org 2021000001); rc=$?
else pnr3=198001011230; fi
expect_eq "Rut adds a person in her organisation: exit 0" "$rc" 0
out=$(asrut affiliation add --pnr "$pnr3" --org 2120000142 --local-id rroll); rc=$?
expect_eq "Rut: affiliation in the other organisation refused: exit 1" "$rc" 1
expect_match "Rut: 403 naming the action and the organisation" "$out" "HTTP 403.*has no role allowing affiliation.write for organisation 2120000142"
out=$(asrut proof record --pnr 197001611230 --document-type passport --document-number X1 --checked); rc=$?
expect_match "Rut: proofing of a person of the other organisation: 403" "$out" "HTTP 403.*no role allowing proofing.write for person 197001611230"
out=$(asrut org add --orgnr 2021005448 --name Skatteverket); rc=$?
expect_match "Rut: org add needs ca_admin: 403" "$out" "HTTP 403.*no role allowing org.write for every organisation"
out=$(asrut affiliation add --pnr "$pnr3" --org 2021000001 --local-id rroll); rc=$?
expect_eq "Rut: affiliation in her organisation: exit 0" "$rc" 0
out=$(asrut officer grant "$rut_id" --role ca_admin); rc=$?
expect_match "Rut cannot grant herself ca_admin: 403" "$out" "HTTP 403.*no role allowing officer.write"
out=$(ctl officer grant "$rut_id" --role registration_officer --org 2120000142); rc=$?
expect_eq "ca_admin grants Rut a role in 2120000142: exit 0" "$rc" 0
out=$(asrut proof record --pnr 197001611230 --document-type national_id_card --document-number X1 --checked); rc=$?
expect_eq "Rut may now proof the person of 2120000142: exit 0" "$rc" 0
out=$(ctl officer revoke "$rut_id" --role registration_officer --org 2120000142); rc=$?
expect_eq "ca_admin revokes that role: exit 0" "$rc" 0
out=$(asrut proof record --pnr 197001611230 --document-type passport --document-number X2 --checked); rc=$?
expect_match "after revoke: 403 again" "$out" "HTTP 403"

# --- an officer whose certificate is suspended or revoked is refused at once
rut_serial=$(creds_serial "$CREDS_DIR/rut.pem")
"$EFOSCTL" -c "$T_CONF" cert hold --serial "$rut_serial" --why "officer certificate test" >/dev/null 2>&1
out=$(asrut officer whoami); rc=$?
expect_match "officer certificate on hold: 403 suspended" "$out" "HTTP 403.*is suspended \(certificateHold\)"
"$EFOSCTL" -c "$T_CONF" cert release --serial "$rut_serial" --why "officer certificate test" >/dev/null 2>&1
out=$(asrut officer whoami); rc=$?
expect_eq "hold released: the officer works again" "$rc" 0
"$EFOSCTL" -c "$T_CONF" cert revoke --serial "$rut_serial" --reason keyCompromise --why "officer certificate test" >/dev/null 2>&1
out=$(asrut officer whoami); rc=$?
expect_match "officer certificate revoked: 403 revoked" "$out" "HTTP 403.*is revoked"

# --- suspension
out=$(ctl person suspend 197001011233 --reason "left the agency"); rc=$?
expect_eq "person suspend: exit 0" "$rc" 0
expect_match "person is suspended" "$out" "197001011233 +suspended"
out=$(ctl person suspend 197001011233); rc=$?
expect_match "suspending twice: 409" "$out" "HTTP 409.*suspended already"
out=$(ctl person resume 197001011233); rc=$?
expect_match "person resume" "$out" "197001011233 +active"
out=$(ctl org suspend 2120000142 --reason test); rc=$?
expect_match "org suspend" "$out" "2120000142 +suspended"
out=$(ctl affiliation add --pnr 197001011233 --org 2120000142 --local-id aberg2); rc=$?
expect_match "no new affiliation with a suspended organisation: 409" "$out" "HTTP 409.*suspended"
out=$(ctl org resume 2120000142); rc=$?
expect_match "org resume" "$out" "2120000142 +active"
aff=$("$EFOSCTL" affiliation list --pnr 197001611230 | sed -n 's/^affiliation \([0-9]*\):.*/\1/p' | head -1)
out=$(ctl affiliation end "$aff" --reason "contract ended"); rc=$?
expect_match "affiliation end" "$out" "sord@2120000142 +ended"

# --- authentication
code=$(http_code "$T_MTLS_URL/api/v1/admin/whoami")
expect_eq "no client certificate: 403" "$code" 403
code=$(http_code "$T_URL/api/v1/admin/whoami" --cert "$CREDS_OFFICER_CERT" --key "$CREDS_OFFICER_KEY")
expect_eq "the public listener does not take officers: 403" "$code" 403
code=$(http_code "$T_MTLS_URL/api/v1/admin/whoami" --cert "$T_TLS/client.crt" --key "$T_TLS/client.key")
expect_eq "a trusted certificate that is not an officer's: 403" "$code" 403
body=$(curl -s --cacert "$T_TLS/ca.crt" --cert "$T_TLS/client.crt" --key "$T_TLS/client.key" "$T_MTLS_URL/api/v1/admin/whoami")
expect_match "... saying it is not a registered officer" "$body" "is not a registered officer"
creds_csr "$T/self.key" "$T/self.csr" "/CN=Self Signed"
openssl x509 -req -in "$T/self.csr" -signkey "$T/self.key" -days 2 -out "$T/self.pem" 2>/dev/null
out=$(EFOS_OFFICER_CERT=$T/self.pem EFOS_OFFICER_KEY=$T/self.key "$EFOSCTL" org list 2>&1); rc=$?
expect_eq "a self-signed certificate: exit 1" "$rc" 1
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data '{"orgnr": ' \
	--cacert "$T_TLS/ca.crt" --cert "$CREDS_OFFICER_CERT" --key "$CREDS_OFFICER_KEY" "$T_MTLS_URL/api/v1/admin/organisations")
expect_eq "malformed JSON: 400" "$code" 400
code=$(http_code "$T_MTLS_URL/api/v1/admin/persons/197001011299" --cert "$CREDS_OFFICER_CERT" --key "$CREDS_OFFICER_KEY")
expect_eq "GET a malformed personnummer: 400" "$code" 400
code=$(http_code "$T_MTLS_URL/api/v1/admin/persons/197001021232" --cert "$CREDS_OFFICER_CERT" --key "$CREDS_OFFICER_KEY")
expect_eq "GET an unknown person: 404" "$code" 404

# --- an officer whose key is on a card (SoftHSM token), through OpenSSL's pkcs11 engine
creds_card_token officercard && creds_card_p11 officercard --keypairgen --key-type EC:prime256v1 --id 01 \
	--label auth >/dev/null 2>&1 || fail "officer card token"
OPENSSL_CONF=/dev/null openssl req -new -engine pkcs11 -keyform engine \
	-key "pkcs11:token=officercard;object=auth;type=private;pin-value=$CREDS_CARD_PIN" -subj "/CN=Kort Officer" \
	-out "$CREDS_DIR/kort.csr" >/dev/null 2>&1 || fail "CSR signed on the officer's card"
creds_issue officer "$CREDS_DIR/kort.pem" --csr "$CREDS_DIR/kort.csr" --cn "Kort Officer" --o Demo-myndigheten \
	--org-id 2021000001 --c SE >/dev/null 2>&1 || fail "issue the card officer's certificate"
out=$(ctl officer add --cert "$CREDS_DIR/kort.pem" --name "Kort Officer" --role org_admin --org 2021000001); rc=$?
expect_eq "officer add (key on a card): exit 0" "$rc" 0
out=$(EFOS_CARD_PIN_VAR=$CREDS_CARD_PIN ctl officer whoami --cert "$CREDS_DIR/kort.pem" \
	--key "pkcs11:token=officercard;object=auth;type=private" --module "$EFOS_TEST_HSM_MODULE" --pin-env EFOS_CARD_PIN_VAR); rc=$?
expect_eq "efosctl with the officer's key on the card (pkcs11 engine): exit 0" "$rc" 0
expect_match "... authenticated as that officer" "$out" "Kort Officer.*role org_admin for organisation 2021000001"
out=$(ctl officer whoami --cert "$CREDS_DIR/kort.pem" --key "pkcs11:token=officercard;object=auth;type=private" \
	--module "$EFOS_TEST_HSM_MODULE" --pin-env NO_SUCH_PIN_VAR); rc=$?
expect_eq "a --pin-env variable that is not set: exit 1" "$rc" 1

# --- the fixture for other tests, on top of what is here
creds_demo_registry && ok "creds_demo_registry" || fail "creds_demo_registry" "$(tail -5 "$CREDS_REG_LOG")"
out=$(ctl person show "$CREDS_DEMO_PNR"); rc=$?
expect_match "demo person: vlindman@2021000001 with a valid proofing" "$out" "vlindman@2021000001.*passport AB1234567.*valid until [0-9-]+T"

# --- audit
n=$(psql_super "SELECT count(*) FROM audit_log WHERE action IN ('org.create','person.create','affiliation.create','proofing.record','officer.create','officer.grant','officer.revoke','person.suspend','person.resume','org.suspend','org.resume','affiliation.end') AND outcome = 'success'")
[ "$n" -ge 15 ] && ok "registry changes are audited ($n events)" || fail "registry changes are audited" "only $n events"
actor=$(psql_super "SELECT actor FROM audit_log WHERE action = 'org.create' ORDER BY id LIMIT 1")
expect_match "actor is the officer's certificate subject" "$actor" "CN=Olle Officer"
actor=$(psql_super "SELECT actor FROM audit_log WHERE action = 'officer.create' ORDER BY id LIMIT 1")
expect_match "bootstrap is audited as the local operator" "$actor" "^efosctl:"
n=$(psql_super "SELECT count(*) FROM audit_log WHERE outcome = 'denied' AND actor LIKE '%Rut Registrator%'")
[ "$n" -ge 4 ] && ok "refusals are audited as denied ($n)" || fail "refusals are audited as denied" "only $n"
out=$("$EFOSCTL" -c "$T_CONF" audit verify 2>&1); rc=$?
expect_eq "audit chain intact" "$rc" 0

t_done
