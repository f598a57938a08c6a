#!/usr/bin/env bash
# SAML interop with Apache + mod_auth_mellon (issue 4, "Done when"): a private Apache with
# mellon on a free port, configured from our /metadata/idp.xml, registered with us by SP
# metadata that declares loa4-pnr, loa4-orgid and the employee-eID contract category
# (idp.sp_metadata_files); a CGI that prints what mellon received. curl is the browser and
# presents the card (a SoftHSM token) through OpenSSL's pkcs11 engine.
#
#   happy path: protected page → our /idp/sso/redirect → the card step on the mTLS listener →
#   the attribute-release notice (continue) → the auto-POST form → mellon's ACS → the page shows
#   displayName, personalIdentityNumber, orgAffiliation and the loa4 context;
#   a tampered Response is refused by mellon; SSO reuse (no card, notice shown again), ForceAuthn
#   (card again), IsPassive with and without a session, the 60-minute limit, an unsupported LoA,
#   an unknown SP, a replayed request, an expired request, a wrong ACS, the notice remembered,
#   cancel, a revoked card.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-creds.sh"
. "$EFOS_TOP/tests/peers/lib-peers.sh"
t_init t_idp_mellon

for tool in apache2 mellon_create_metadata python3; do
	command -v $tool >/dev/null || { echo "ok - SKIP: $tool is not installed"; t_done; }
done
[ -e /usr/lib/apache2/modules/mod_auth_mellon.so ] || { echo "ok - SKIP: mod_auth_mellon is not installed"; t_done; }

# ---- the SP (files first: efosd reads its metadata at start) --------------------------------------
SP_PORT=$(free_port)
SP_URL=https://127.0.0.1:$SP_PORT
SP=$T/mellon
SP_ID=$SP_URL/mellon/metadata
mkdir -p "$SP/run/post" "$SP/logs" "$SP/htdocs" "$SP/cgi"
( cd "$SP" && mellon_create_metadata "$SP_ID" "$SP_URL/mellon" >/dev/null 2>&1 ) || { fail "mellon_create_metadata"; t_done; }
mv "$SP"/https_*.key "$SP/sp.key" && mv "$SP"/https_*.cert "$SP/sp.cert" && mv "$SP"/https_*.xml "$SP/sp-generated.xml"
peers_sp_metadata "$SP/sp-generated.xml" "$SP/sp-metadata.xml" "Testtjänsten (mellon)" "The test service (mellon)" \
	--ec "$EC_LOA4_PNR" --ec "$EC_LOA4_ORGID" --ec "$EC_CONTRACT" || { fail "SP metadata"; t_done; }
chown -R www-data "$SP/run" 2>/dev/null

# ---- efosd: CA, IdP keys, registry, card (tests/peers/lib-peers.sh) --------------------------------
peers_efosd_setup "$SP/sp-metadata.xml" || t_done

# ---- our metadata → mellon; start Apache ---------------------------------------------------------------
wait_for 10 sh -c "curl -sf --cacert '$T_TLS/ca.crt' '$T_URL/metadata/idp.xml' -o '$SP/idp-metadata.xml'" ||
	{ fail "GET /metadata/idp.xml" "$(curl -s --cacert "$T_TLS/ca.crt" "$T_URL/metadata/idp.xml" | head -3)"; t_done; }
ok "our metadata fetched for mellon"
peers_render "$PEERS_DIR/mellon/httpd.conf.in" "$SP/httpd.conf" "DIR=$SP" "PORT=$SP_PORT" \
	"TLS_CERT=$T_TLS/server.crt" "TLS_KEY=$T_TLS/server.key"
cp "$PEERS_DIR/mellon/env.cgi" "$SP/cgi/env.cgi"
chmod 0755 "$SP/cgi/env.cgi"; chmod 0644 "$T_TLS/server.key" 2>/dev/null
peers_apache_start "$SP/httpd.conf" || { fail "Apache with mod_auth_mellon starts" "$(tail -5 "$SP/logs/error.log")"; t_done; }
ok "Apache with mod_auth_mellon on $SP_URL"
sp_log() { echo "#   --- mellon error log:"; tail -n 8 "$SP/logs/error.log" | sed 's/^/#   | /'; }

# consent_continue [remember]: POSTs the notice page's form with "continue"
consent_post() {
	local what=$1 remember=${2:-}
	local origin tx csrf
	origin=$(b_origin "$B_URL")
	tx=$(b_form_field tx); csrf=$(b_form_field csrf)
	local -a extra=()
	[ -n "$remember" ] && extra=(--data-urlencode remember=1)
	b_post "$origin/idp/login/consent" --data-urlencode "tx=$tx" --data-urlencode "csrf=$csrf" \
		--data-urlencode lang=en --data-urlencode "action=$what" "${extra[@]}"
}

# ---- 1. the happy path ---------------------------------------------------------------------------------
b_jar main
b_walk "$SP_URL/secret/env.cgi"
if b_hops_match "^$T_URL/idp/sso/redirect\?SAMLRequest=" && b_hops_match "^$T_MTLS_URL/idp/login/card\?tx=[0-9a-f]{64}"; then
	ok "protected page → our SSO endpoint → the card step on the mTLS listener"
else
	fail "protected page → our SSO endpoint → the card step" "hops: ${B_HOPS[*]}" "last: $B_CODE $(b_text | head -c 400)"
fi
SSO_URL=$(printf '%s\n' "${B_HOPS[@]}" | grep -m1 "^$T_URL/idp/sso/redirect")
expect_eq "the card login leads to the notice page (200)" "$B_CODE" 200
PAGE=$(b_text)
expect_match "the notice names the SP (mdui DisplayName)" "$PAGE" "Testtjänsten \(mellon\)"
expect_match "the notice lists the personnummer" "$PAGE" "$CREDS_DEMO_PNR"
expect_match "the notice lists the orgAffiliation" "$PAGE" "$CREDS_DEMO_AFFILIATION"
expect_eq "the notice form posts to /idp/login/consent" "$(b_form_action)" "/idp/login/consent"
consent_post continue
expect_eq "continue: the auto-POST page (200)" "$B_CODE" 200
expect_eq "... its form posts to mellon's ACS" "$(b_form_action)" "$SP_URL/mellon/postResponse"
RESP_XML=$(b_saml_response_xml)
expect_match "... a signed Response with Success and one EncryptedAssertion" "$RESP_XML" \
	'StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success".*EncryptedAssertion'
cp "$B_BODY" "$T/autopost.html"
b_submit_saml
if [ "$B_CODE" = 200 ] && grep -q '^REMOTE_USER=' "$B_BODY"; then ok "mellon accepted the Response and shows the protected page"
else fail "mellon accepted the Response" "$B_CODE $(head -c 300 "$B_BODY")" "$(sp_log)"; fi
OUT=$(cat "$B_BODY")
expect_match "the SP shows displayName" "$OUT" "displayName=$CREDS_DEMO_GIVEN $CREDS_DEMO_SURNAME"
expect_match "the SP shows personalIdentityNumber" "$OUT" "personalIdentityNumber=$CREDS_DEMO_PNR"
expect_match "the SP shows orgAffiliation" "$OUT" "orgAffiliation=$CREDS_DEMO_AFFILIATION"
expect_match "the SP shows the loa4 context" "$OUT" "AUTHN_CONTEXT=$LOA4"
AUDIT=$(psql_super "SELECT action || ' ' || outcome FROM audit_log WHERE action LIKE 'idp.%' ORDER BY id")
expect_match "audit: idp.login success and idp.assertion success" "$(printf '%s' "$AUDIT" | tr '\n' ' ')" "idp.login success.*idp.assertion success"

# ---- 2. a tampered Response is refused ---------------------------------------------------------------------
b_jar tamper
b_walk "$SP_URL/secret/env.cgi"
consent_post continue
TAMPER=1 b_submit_saml
if [ "$B_CODE" != 200 ] || ! grep -q '^REMOTE_USER=' "$B_BODY"; then ok "mellon refuses a tampered Response ($B_CODE)"
else fail "mellon refuses a tampered Response" "it showed the page"; fi

# ---- 3. SSO reuse: another login of the same browser, no card, the notice again ---------------------------
b_jar main_sso
cp "$T/jar-main" "$B_JAR"
# forget mellon's session, keep ours
sed -i '/mellon-cookie/d' "$B_JAR"
B_CARD_SAVED=("${B_CARD[@]}"); B_CARD=()
b_walk "$SP_URL/secret/env.cgi"
if ! b_hops_match "/idp/login/card" && b_hops_match "^$T_URL/idp/login/next\?tx=" && [ "$B_CODE" = 200 ]; then
	ok "SSO: no card step, straight to the notice"
else fail "SSO reuse" "hops: ${B_HOPS[*]}" "$B_CODE $(b_text | head -c 300)"; fi
expect_match "SSO: the notice is shown again and says the card is not used" "$(b_text)" "card is not used again|kortet används inte igen"
consent_post continue remember
b_submit_saml
expect_match "SSO: mellon shows the page" "$(cat "$B_BODY")" "personalIdentityNumber=$CREDS_DEMO_PNR"

# ---- 4. the notice remembered for this SP ---------------------------------------------------------------------
sed -i '/mellon-cookie/d' "$B_JAR"
N_AUDIT0=$(psql_super "SELECT max(id) FROM audit_log")
N_TX0=$(psql_super "SELECT count(*) FROM idp_login_tx")
b_walk "$SP_URL/secret/env.cgi"
expect_eq "remembered notice: the auto-POST page comes at once" "$(b_form_action)" "$SP_URL/mellon/postResponse"
if ! b_hops_match "/idp/login/" && b_hops_match "^$T_URL/idp/sso/redirect"; then
	ok "... as the answer to /idp/sso/redirect itself (no login transaction, no /idp/login/next)"
else fail "SSO answered at once" "hops: ${B_HOPS[*]}"; fi
expect_eq "... audited as one idp.assertion event with the session (sso, direct)" \
	"$(psql_super "SELECT string_agg(action || ' ' || outcome || ' ' || (details->>'sso') || ' ' || (details->>'direct') || ' ' || (details ? 'session')::text, ',') FROM audit_log WHERE id > $N_AUDIT0")" \
	"idp.assertion success true true true"
expect_eq "... and no login transaction left behind" "$(psql_super "SELECT count(*) FROM idp_login_tx")" "$N_TX0"
b_submit_saml
expect_match "... and mellon shows the page" "$(cat "$B_BODY")" "personalIdentityNumber=$CREDS_DEMO_PNR"
# IsPassive with a session and the notice remembered: answered at once, without any page
SIGN_KEY=$SP/sp.key
ACS=$SP_URL/mellon/postResponse
req_url() { python3 "$PEERS_BIN/mk-authnreq.py" "$T_URL/idp/sso/redirect" "${REQ_ISSUER:-$SP_ID}" "${REQ_ACS:-$ACS}" --key "$SIGN_KEY" "$@"; }
b_walk "$(req_url --passive)"
expect_match "IsPassive with a session (notice remembered): a Success Response at once" "$(b_saml_response_xml)" 'status:Success'
psql_super "DELETE FROM idp_release_consents" >/dev/null

# ---- 5. IsPassive with a session: answered without the card -----------------------------------------------------
B_CARD=()
b_jar passive_session
cp "$T/jar-main" "$B_JAR"
b_walk "$(req_url --passive)"
# a session, but the notice would have to be shown (not remembered): NoPassive
expect_match "IsPassive with a session but the notice to show: NoPassive, posted at once" "$(b_saml_response_xml)" 'status:NoPassive'
psql_super "DELETE FROM idp_release_consents" >/dev/null

b_jar passive_nosession
b_walk "$(req_url --passive)"
expect_match "IsPassive without a session: NoPassive error Response" "$(b_saml_response_xml)" 'StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Requester".*status:NoPassive'
expect_eq "... posted to the ACS without an OK page" "$(b_form_action)" "$ACS"
if ! b_hops_match "/idp/login/card"; then ok "... and no card step"; else fail "... and no card step"; fi

# ---- 6. ForceAuthn: the card again even with a session ------------------------------------------------------------
b_jar force
cp "$T/jar-main" "$B_JAR"
b_walk "$(req_url --force)"
if b_hops_match "^$T_MTLS_URL/idp/login/card\?tx="; then ok "ForceAuthn with a session: the card step again"
else fail "ForceAuthn: the card step again" "hops: ${B_HOPS[*]}"; fi
B_CARD=("${B_CARD_SAVED[@]}")
b_walk "$(req_url --force)"
expect_eq "ForceAuthn: after the card, the notice" "$(b_form_action)" "/idp/login/consent"
consent_post continue
expect_match "ForceAuthn: a Success Response" "$(b_saml_response_xml)" 'status:Success'

# ---- 7. the 60-minute limit (idp.sso_max_age): a session older than the limit is not reused --------------------------
psql_super "UPDATE idp_sso_sessions SET authn_instant = now() - interval '61 minutes', expires_at = now() + interval '1 minute' - interval '61 minutes' + interval '60 minutes'" >/dev/null 2>&1 ||
psql_super "UPDATE idp_sso_sessions SET authn_instant = now() - interval '61 minutes', expires_at = now() - interval '1 minute'" >/dev/null
b_jar old
cp "$T/jar-main" "$B_JAR"; sed -i '/mellon-cookie/d' "$B_JAR"
B_CARD=()
b_walk "$SP_URL/secret/env.cgi"
if b_hops_match "^$T_MTLS_URL/idp/login/card"; then ok "a session older than 60 minutes is not reused: the card again"
else fail "the 60-minute limit" "hops: ${B_HOPS[*]}"; fi
B_CARD=("${B_CARD_SAVED[@]}")

# ---- 8. an SP asking for an LoA we do not support: NoAuthnContext after OK ----------------------------------------------
b_jar loa3
b_walk "$(req_url --loa http://id.elegnamnden.se/loa/1.0/loa3)"
expect_match "unsupported LoA (loa3): an error page" "$(b_text)" "could not be completed|kunde inte genomföras"
expect_match "... whose OK posts NoAuthnContext to the ACS" "$(b_saml_response_xml)" 'status:NoAuthnContext'
expect_eq "... to mellon's ACS" "$(b_form_action)" "$ACS"

# ---- 9. an unknown SP: an error page, 400, no SAML response ----------------------------------------------------------------
b_jar unknown
REQ_ISSUER=https://unknown.example.se/sp b_walk "$(REQ_ISSUER=https://unknown.example.se/sp req_url)"
expect_eq "unknown SP: 400" "$B_CODE" 400
if [ -z "$(b_form_field SAMLResponse)" ]; then ok "... and no SAML response"; else fail "... and no SAML response"; fi

# ---- 10. a replayed request ---------------------------------------------------------------------------------------------------
b_jar replay
b_walk "$SSO_URL"
expect_eq "the first request replayed: 400" "$B_CODE" 400
expect_match "... says it was seen before" "$(b_text)" "[Rr]eplay|seen before|already"
if [ -z "$(b_form_field SAMLResponse)" ]; then ok "... and no SAML response"; else fail "... replay: no SAML response"; fi

# ---- 11. an expired request -----------------------------------------------------------------------------------------------------
b_jar expired
b_walk "$(req_url --age 900)"
expect_eq "a request issued 15 minutes ago: 400" "$B_CODE" 400
expect_match "... too old" "$(b_text)" "old|age|expired|IssueInstant"

# ---- 12. a wrong ACS --------------------------------------------------------------------------------------------------------------
b_jar wrongacs
b_walk "$(REQ_ACS=https://evil.example.se/acs req_url)"
expect_eq "an ACS not in the SP's metadata: 400" "$B_CODE" 400
if [ -z "$(b_form_field SAMLResponse)" ]; then ok "... and nothing is posted there"; else fail "wrong ACS: nothing posted"; fi

# ---- 13. cancel on the notice -------------------------------------------------------------------------------------------------------
b_jar cancel
b_walk "$(req_url)"
consent_post cancel
expect_match "cancel: the cancel status is posted to the SP" "$(b_saml_response_xml)" 'http://id.elegnamnden.se/status/1.0/cancel'

# ---- 14. pages: language, escaping, CSP ---------------------------------------------------------------------------------------------
b_jar lang
b_walk "$(req_url)" -H 'Accept-Language: en-GB,en;q=0.9'
expect_match "Accept-Language en: the notice in English" "$(b_text)" "The following information will be sent"
HDRS=$(OPENSSL_CONF=$P11CONF curl -s -D - -o /dev/null --cacert "$T_TLS/ca.crt" -b "$B_JAR" "${B_CARD[@]}" "$B_URL")
expect_match "pages carry a CSP without inline script" "$HDRS" "Content-Security-Policy: default-src 'none'"
b_walk "$(printf '%s' "$B_URL" | sed 's/lang=en/lang=sv/')"
expect_match "?lang=sv: the notice in Swedish" "$(b_text)" "Följande uppgifter skickas"

# ---- 15. a revoked card is refused with the reason; OK posts AuthnFailed --------------------------------------------------------------
"$EFOSCTL" -c "$T_CONF" card revoke --card-id "$CREDS_CARD_ID" --reason card-lost --why t_idp_mellon >"$T/revoke.log" 2>&1 ||
	fail "revoke the card" "$(cat "$T/revoke.log")"
b_jar revoked
b_walk "$(req_url)"
expect_match "revoked card: an error page with the exact reason" "$(b_text)" "revoked"
expect_match "... whose OK posts Responder/AuthnFailed" "$(b_saml_response_xml)" 'status:Responder.*status:AuthnFailed'
b_jar revoked_sso
cp "$T/jar-main_sso" "$B_JAR"; sed -i '/mellon-cookie/d' "$B_JAR"
B_CARD=()
b_walk "$(req_url)"
if b_hops_match "/idp/login/card"; then ok "revoked card: its SSO session is not reused"
else fail "revoked card: its SSO session is not reused" "hops: ${B_HOPS[*]}"; fi

efosd_alive && ok "efosd still running" || fail "efosd still running"
t_done
