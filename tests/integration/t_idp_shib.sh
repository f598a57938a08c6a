#!/usr/bin/env bash
# SAML interop with the Shibboleth SP 3 (shibd + mod_shib in a private Apache), issue 4 "Done
# when": configured from our /metadata/idp.xml, registered with us by metadata declaring
# loa4-pnr, loa4-orgid and the contract category; curl logs in with the card (pkcs11 engine).
#
#   happy path (signed Redirect AuthnRequest with RequestedAuthnContext loa4 → card → notice →
#   auto-POST → the page shows displayName, personalIdentityNumber, orgAffiliation and
#   Shib-AuthnContext-Class loa4); a tampered Response is refused; ForceAuthn and IsPassive through
#   Shibboleth's own login handler (forceAuthn=true, isPassive=true), SSO reuse.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-creds.sh"
. "$EFOS_TOP/tests/peers/lib-peers.sh"
t_init t_idp_shib

for tool in apache2 shibd python3; do
	command -v $tool >/dev/null || { echo "ok - SKIP: $tool is not installed"; t_done; }
done
[ -e /usr/lib/apache2/modules/mod_shib.so ] || { echo "ok - SKIP: mod_shib is not installed"; t_done; }

# ---- the SP's files (efosd reads its metadata at start) ----------------------------------------------
SP_PORT=$(free_port)
SP_URL=https://127.0.0.1:$SP_PORT
SP=$T/shib
SP_ID=$SP_URL/shibboleth
mkdir -p "$SP/run" "$SP/logs" "$SP/htdocs" "$SP/cgi"
openssl req -x509 -newkey rsa:3072 -nodes -keyout "$SP/sp.key" -out "$SP/sp.crt" -days 30 -subj "/CN=127.0.0.1" \
	>/dev/null 2>&1 || { fail "SP key"; t_done; }
peers_render "$PEERS_DIR/shib/sp-metadata.xml.in" "$SP/sp-generated.xml" "URL=$SP_URL" \
	"CERT=$(grep -v -- '-----' "$SP/sp.crt" | tr -d '\n')"
peers_sp_metadata "$SP/sp-generated.xml" "$SP/sp-metadata.xml" "Testtjänsten (Shibboleth)" "The test service (Shibboleth)" \
	--ec "$EC_LOA4_PNR" --ec "$EC_LOA4_ORGID" --ec "$EC_CONTRACT" || { fail "SP metadata"; t_done; }

peers_efosd_setup "$SP/sp-metadata.xml" || t_done

# ---- our metadata → shibd; start shibd and Apache --------------------------------------------------------
wait_for 10 sh -c "curl -sf --cacert '$T_TLS/ca.crt' '$T_URL/metadata/idp.xml' -o '$SP/idp-metadata.xml'" ||
	{ fail "GET /metadata/idp.xml"; t_done; }
IDP_ID=$(grep -o 'entityID="[^"]*"' "$SP/idp-metadata.xml" | head -1 | sed 's/entityID="//; s/"$//')
for f in shibboleth2.xml native.logger shibd.logger httpd.conf; do
	peers_render "$PEERS_DIR/shib/$f.in" "$SP/$f" "DIR=$SP" "URL=$SP_URL" "IDP=$IDP_ID" "PORT=$SP_PORT" \
		"TLS_CERT=$T_TLS/server.crt" "TLS_KEY=$T_TLS/server.key"
done
cp "$PEERS_DIR/shib/attribute-map.xml" "$PEERS_DIR/shib/attribute-policy.xml" "$SP/"
cp "$PEERS_DIR/shib/env.cgi" "$SP/cgi/env.cgi"; chmod 0755 "$SP/cgi/env.cgi"
chmod 0644 "$T_TLS/server.key" "$SP/sp.key" 2>/dev/null
shibd -f -F -c "$SP/shibboleth2.xml" -p "$SP/run/shibd.pid" >"$SP/logs/shibd.out" 2>&1 &
SHIBD_PID=$!
t_on_exit "kill $SHIBD_PID 2>/dev/null; wait $SHIBD_PID 2>/dev/null"
wait_for 20 test -S "$SP/run/shibd.sock" || { fail "shibd starts" "$(tail -5 "$SP/logs/shibd.out")" "$(tail -5 "$SP/logs/shibd.log" 2>/dev/null)"; t_done; }
chmod 0777 "$SP/run/shibd.sock" 2>/dev/null
peers_apache_start "$SP/httpd.conf" || { fail "Apache with mod_shib starts" "$(tail -5 "$SP/logs/error.log")"; t_done; }
ok "shibd and Apache with mod_shib on $SP_URL"
sp_log() { echo "#   --- shibd log:"; tail -n 8 "$SP/logs/shibd.log" 2>/dev/null | sed 's/^/#   | /'; }

consent_post() {
	local origin
	origin=$(b_origin "$B_URL")
	b_post "$origin/idp/login/consent" --data-urlencode "tx=$(b_form_field tx)" --data-urlencode "csrf=$(b_form_field csrf)" \
		--data-urlencode lang=en --data-urlencode "action=$1"
}
B_CARD_SAVED=("${B_CARD[@]}")

# ---- 1. the happy path --------------------------------------------------------------------------------------
b_jar main
b_walk "$SP_URL/secure/env.cgi"
if b_hops_match "^$T_URL/idp/sso/redirect\?SAMLRequest=.*&Signature=" && b_hops_match "^$T_MTLS_URL/idp/login/card\?tx="; then
	ok "Shibboleth → our SSO endpoint (signed Redirect request) → the card step"
else
	fail "Shibboleth → our SSO endpoint → the card step" "hops: ${B_HOPS[*]}" "$B_CODE $(b_text | head -c 400)"
fi
expect_match "the notice names the SP" "$(b_text)" "Testtjänsten \(Shibboleth\)"
consent_post continue
expect_eq "the auto-POST page posts to Shibboleth's ACS" "$(b_form_action)" "$SP_URL/Shibboleth.sso/SAML2/POST"
b_submit_saml
OUT=$(cat "$B_BODY")
if [ "$B_CODE" = 200 ] && grep -q '^REMOTE_USER=' "$B_BODY"; then ok "Shibboleth accepted the Response"
else fail "Shibboleth accepted the Response" "$B_CODE $(b_text | head -c 400)" "$(sp_log)"; fi
expect_match "the SP shows displayName" "$OUT" "displayName=$CREDS_DEMO_GIVEN $CREDS_DEMO_SURNAME"
expect_match "the SP shows personalIdentityNumber" "$OUT" "personalIdentityNumber=$CREDS_DEMO_PNR"
expect_match "the SP shows orgAffiliation" "$OUT" "orgAffiliation=$CREDS_DEMO_AFFILIATION"
expect_match "the SP shows the loa4 context" "$OUT" "Shib.AuthnContext.Class=$LOA4"

# ---- 2. a tampered Response ------------------------------------------------------------------------------------
b_jar tamper
b_walk "$SP_URL/secure/env.cgi"
consent_post continue
TAMPER=1 b_submit_saml
if [ "$B_CODE" != 200 ] || ! grep -q '^REMOTE_USER=' "$B_BODY"; then ok "Shibboleth refuses a tampered Response ($B_CODE)"
else fail "Shibboleth refuses a tampered Response" "it showed the page"; fi

# ---- 3. SSO reuse, ForceAuthn, IsPassive through Shibboleth's login handler ----------------------------------------
b_jar sso
cp "$T/jar-main" "$B_JAR"; sed -i '/_shibsession_/d' "$B_JAR"
B_CARD=()
b_walk "$SP_URL/secure/env.cgi"
if ! b_hops_match "/idp/login/card" && b_hops_match "/idp/login/next"; then ok "SSO: no card step"
else fail "SSO: no card step" "hops: ${B_HOPS[*]}"; fi
consent_post continue
b_submit_saml
expect_match "SSO: Shibboleth shows the page" "$(cat "$B_BODY")" "personalIdentityNumber=$CREDS_DEMO_PNR"

TARGET=$(python3 -c 'import urllib.parse,sys; print(urllib.parse.quote(sys.argv[1], safe=""))' "$SP_URL/secure/env.cgi")
b_walk "$SP_URL/Shibboleth.sso/Login?target=$TARGET&forceAuthn=true"
if b_hops_match "^$T_MTLS_URL/idp/login/card"; then ok "ForceAuthn (Shibboleth forceAuthn=true): the card again"
else fail "ForceAuthn: the card again" "hops: ${B_HOPS[*]}"; fi

b_jar passive
b_walk "$SP_URL/Shibboleth.sso/Login?target=$TARGET&isPassive=true"
expect_match "IsPassive without a session: NoPassive" "$(b_saml_response_xml)" "status:NoPassive"
b_submit_saml
if ! grep -q '^REMOTE_USER=' "$B_BODY"; then ok "... and Shibboleth grants no session"; else fail "... no session"; fi

B_CARD=("${B_CARD_SAVED[@]}")
efosd_alive && ok "efosd still running" || fail "efosd still running"
t_done
