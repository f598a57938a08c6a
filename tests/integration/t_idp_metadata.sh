#!/usr/bin/env bash
# IdP metadata, published and consumed (issue 4, items 1 and 2), against a running efosd (role idp):
#  - GET /metadata/idp.xml is application/samlmetadata+xml, validates against the OASIS SAML
#    metadata schema and its extensions (xmllint, tests/schemas/saml-metadata-efos.xsd), its
#    signature verifies with xmlsec1 and the metadata certificate (issued by our CA for a key in
#    the HSM), it carries loa4 and the entity categories, and a shibmd:Scope for the demo
#    organisation appears after the organisation is added; ETag / If-None-Match gives 304;
#  - a federation feed signed with xmlsec1 and served by a tiny local HTTP server is loaded;
#    a tampered copy is refused and the previous good copy stays in use (in memory, on disk,
#    and after a restart).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-creds.sh"
t_init t_idp_metadata

SCHEMA=$EFOS_TOP/tests/schemas/saml-metadata-efos.xsd
NS_ED=urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor
NS_ESD=urn:oasis:names:tc:SAML:2.0:metadata:EntitiesDescriptor
FEED=$T/feed
mkdir -p "$FEED" "$T/fed"

# ---- the federation operator: a key, a certificate, a signed aggregate with one SP -------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/fed/fed.key" -out "$T/fed/fed.crt" -days 30 \
	-subj "/O=Test federation/CN=Metadata signer" 2>/dev/null &&
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/fed/other.key" -out "$T/fed/other.crt" -days 30 \
	-subj "/O=Test federation/CN=Next metadata signer" 2>/dev/null &&
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/fed/sp.key" -out "$T/fed/sp.crt" \
	-days 30 -subj "/CN=sp.example.se" 2>/dev/null || { fail "federation test keys"; t_done; }
SP_B64=$(sed -e '/-----/d' "$T/fed/sp.crt" | tr -d '\n')

# aggregate ACS_HOST VALID_UNTIL > template
aggregate() {
	cat <<XML
<?xml version="1.0" encoding="UTF-8"?>
<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" ID="_fed$RANDOM" Name="urn:test:federation" validUntil="$2">
  <ds:Signature><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI=""><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/></ds:Signature>
  <!-- one SP -->
  <md:EntityDescriptor entityID="https://sp.example.se/sp">
    <md:Extensions><mdattr:EntityAttributes xmlns:mdattr="urn:oasis:names:tc:SAML:metadata:attribute"><saml:Attribute xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" Name="http://macedir.org/entity-category" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri"><saml:AttributeValue>http://id.elegnamnden.se/ec/1.0/loa4-pnr</saml:AttributeValue></saml:Attribute></mdattr:EntityAttributes></md:Extensions>
    <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" AuthnRequestsSigned="true">
      <md:KeyDescriptor><ds:KeyInfo><ds:X509Data><ds:X509Certificate>$SP_B64</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
      <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://$1/acs" index="0"/>
    </md:SPSSODescriptor>
  </md:EntityDescriptor>
</md:EntitiesDescriptor>
XML
}
in_days() { date -u -d "+$1 days" +%Y-%m-%dT%H:%M:%SZ; }
# The Reference is URI="" (the whole document) here, as some aggregators sign; efosd also takes "#ID".
aggregate sp.example.se "$(in_days 2)" >"$T/fed/tmpl.xml"
xmlsec1 --sign --privkey-pem "$T/fed/fed.key" --output "$T/fed/good.xml" "$T/fed/tmpl.xml" >"$T/fed/sign.log" 2>&1 ||
	{ fail "xmlsec1 signs the aggregate" "$(cat "$T/fed/sign.log")"; t_done; }
check "xmlsec1 verifies its own aggregate" sh -c "xmlsec1 --verify --pubkey-cert-pem '$T/fed/fed.crt' '$T/fed/good.xml' >/dev/null 2>&1"
# tampered: the ACS moved after signing
sed 's|https://sp.example.se/acs|https://evil.example.se/acs|' "$T/fed/good.xml" >"$T/fed/tampered.xml"
cp "$T/fed/good.xml" "$FEED/sp.xml"

FEED_PORT=$(free_port)
python3 -m http.server "$FEED_PORT" --bind 127.0.0.1 --directory "$FEED" >"$T/feed-server.log" 2>&1 &
FEED_PID=$!
t_on_exit "kill $FEED_PID"
wait_for 10 sh -c "curl -sf -o /dev/null http://127.0.0.1:$FEED_PORT/sp.xml" || { fail "feed server"; t_done; }
FEED_URL=http://127.0.0.1:$FEED_PORT/sp.xml

# ---- efosd: CA, the metadata key and certificate ------------------------------------------------------
creds_conf "$T/efos.conf" "node.roles=idp" "idp.organization_name=EFOS testoperatör" \
	"idp.organization_number=2021005521" "idp.contact_technical=efos-teknik@example.se" \
	"idp.contact_support=efos-support@example.se" "idp.logo_url=https://idp.example.se/logo.svg" \
	"idp.metadata_org_poll=1" "idp.metadata_refresh=1" \
	"idp.federation_feeds=$FEED_URL" "idp.federation_certs=$T/fed/other.crt $T/fed/fed.crt" || { fail "config"; t_done; }
creds_ca_init || { fail "efosctl ca init"; t_done; }
KEY_URI=$("$EFOSCTL" -c "$T_CONF" hsm keygen --label "md-sign-$$" --type ec:p256 2>"$T/keygen.err") ||
	{ fail "hsm keygen" "$(cat "$T/keygen.err")"; t_done; }
t_on_exit "creds_hsm_delete_uri '$KEY_URI'"
"$EFOSCTL" -c "$T_CONF" ca issue --profile saml-signing --key-uri "$KEY_URI" --cn "EFOS Test IdP metadata" \
	--o "EFOS test" --c SE --out "$T/md-sign.pem" >"$T/issue.log" 2>&1 ||
	{ fail "saml-signing certificate for the metadata key" "$(cat "$T/issue.log")"; t_done; }
printf 'idp.metadata_key = %s\nidp.metadata_cert = %s\n' "$KEY_URI" "$T/md-sign.pem" >>"$T_CONF"
ok "metadata key in the HSM with a saml-signing certificate from our CA"

efosd_start "$T_CONF" || { fail "efosd starts with role idp"; t_done; }

# ---- published metadata -------------------------------------------------------------------------------
MD=$T/idp.xml
hdrs=$(curl -s -D - -o "$MD" --cacert "$T_TLS/ca.crt" "$T_URL/metadata/idp.xml")
expect_match "GET /metadata/idp.xml: 200" "$hdrs" "^HTTP/[0-9.]+ 200"
expect_match "content type application/samlmetadata+xml" "$hdrs" "(C|c)ontent-(T|t)ype: application/samlmetadata\+xml"
expect_match "Cache-Control max-age = cacheDuration" "$hdrs" "max-age=3600"
if out=$(xmllint --nonet --noout --schema "$SCHEMA" "$MD" 2>&1); then ok "schema-valid (xmllint, OASIS SAML metadata + extensions)"
else fail "schema-valid (xmllint)" "$(printf '%s\n' "$out" | grep -v 'Skipping import' | tail -5)"; fi
if out=$(xmlsec1 --verify --pubkey-cert-pem "$T/md-sign.pem" --id-attr:ID "$NS_ED" "$MD" 2>&1); then
	ok "signature verifies with xmlsec1 and the metadata certificate"
else fail "signature verifies with xmlsec1" "$out"; fi
if out=$(xmlsec1 --verify --trusted-pem "$CREDS_ROOT_PEM" --untrusted-pem "$CREDS_SIGN_PEM" --id-attr:ID "$NS_ED" "$MD" 2>&1); then
	ok "signature verifies with xmlsec1 through our CA (root trusted, certificate from KeyInfo)"
else fail "signature verifies with xmlsec1 through our CA" "$out"; fi
body=$(cat "$MD")
for uri in http://id.elegnamnden.se/loa/1.0/loa4 http://id.swedenconnect.se/ec/1.0/loa4-orgid \
	http://id.elegnamnden.se/ec/1.0/loa4-pnr http://id.swedenconnect.se/ec/1.0/loa4-name \
	http://id.elegnamnden.se/sprop/1.0/scal2 http://id.swedenconnect.se/contract/sc/prepaid-auth-2021; do
	expect_match "declares $uri" "$body" ">$uri<"
done
expect_match "SSO endpoints Redirect and POST" "$body" "Location=\"$T_URL/idp/sso/post\""
expect_match "HoK SSO endpoint on the mTLS listener" "$body" "hoksso:ProtocolBinding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" Location=\"$T_MTLS_URL/idp/hok/sso/post\""
expect_match "signed with ecdsa-sha256 (EC key)" "$body" "xmldsig-more#ecdsa-sha256\"/><ds:Reference"
if grep -q "<shibmd:Scope regexp=\"false\">$CREDS_DEMO_ORGNR<" "$MD"; then fail "no scope before the organisation exists"
else ok "no shibmd:Scope for $CREDS_DEMO_ORGNR before it is added"; fi
etag=$(printf '%s' "$hdrs" | tr -d '\r' | sed -n 's/^[Ee][Tt]ag: //p')
expect_eq "If-None-Match with the ETag: 304" "$(http_code "$T_URL/metadata/idp.xml" -H "If-None-Match: $etag")" 304

psql_super "INSERT INTO organisations (orgnr, name) VALUES ('$CREDS_DEMO_ORGNR', '$CREDS_DEMO_ORG_NAME')" >/dev/null ||
	fail "insert the demo organisation"
scope_published() {
	curl -sf --cacert "$T_TLS/ca.crt" "$T_URL/metadata/idp.xml" -o "$T/idp2.xml" &&
		grep -q "<shibmd:Scope regexp=\"false\">$CREDS_DEMO_ORGNR</shibmd:Scope>" "$T/idp2.xml"
}
if wait_for 15 scope_published; then ok "shibmd:Scope $CREDS_DEMO_ORGNR published after the organisation was added"
else fail "shibmd:Scope published after the organisation was added"; fi
if out=$(xmllint --nonet --noout --schema "$SCHEMA" "$T/idp2.xml" 2>&1) &&
   out=$(xmlsec1 --verify --pubkey-cert-pem "$T/md-sign.pem" --id-attr:ID "$NS_ED" "$T/idp2.xml" 2>&1); then
	ok "the re-signed document is schema-valid and verifies"
else fail "the re-signed document is schema-valid and verifies" "$out"; fi
expect_eq "the new document has another ETag: old one gives 200" "$(http_code "$T_URL/metadata/idp.xml" -H "If-None-Match: $etag")" 200

# ---- consumed metadata: the feed ---------------------------------------------------------------------
loaded_from() { grep -F '"event":"sp_metadata.loaded"' "$T_LOG" | grep -F "\"from\":\"$1\"" | grep -qF '"entities":1'; }
if wait_for 15 loaded_from download; then ok "federation feed downloaded, signature checked, 1 SP loaded"
else fail "federation feed loaded"; fi
CACHE=$(ls "$T/state/sp-metadata/"feed-*.xml 2>/dev/null | head -1)
if [ -n "$CACHE" ] && cmp -s "$CACHE" "$T/fed/good.xml"; then ok "the last good copy is on disk ($CACHE)"
else fail "the last good copy is on disk" "$(ls -l "$T/state/sp-metadata" 2>&1)"; fi

cp "$T/fed/tampered.xml" "$FEED/sp.xml.tmp" && mv "$FEED/sp.xml.tmp" "$FEED/sp.xml"
refused() { grep -F '"event":"sp_metadata.refused"' "$T_LOG" | grep -F 'signature refused' | grep -qF '"kept":1'; }
if wait_for 15 refused; then ok "tampered feed refused; the previous good copy (1 SP) stays in use"
else fail "tampered feed refused, previous copy kept" "$(grep -F sp_metadata "$T_LOG" | tail -3)"; fi
if cmp -s "$CACHE" "$T/fed/good.xml"; then ok "the copy on disk is still the good one"; else fail "the copy on disk is still the good one"; fi
n_loaded=$(grep -F '"event":"sp_metadata.loaded"' "$T_LOG" | grep -cF '"from":"download"')
expect_eq "the tampered copy was never loaded" "$n_loaded" 1

# A restart while the feed serves the tampered copy: the good copy comes from disk.
efosd_stop
mv "$T_LOG" "$T_LOG.first"
efosd_start "$T_CONF" || { fail "efosd restarts"; t_done; }
if wait_for 10 loaded_from "last good copy"; then ok "after a restart the last good copy is loaded from disk"
else fail "after a restart the last good copy is loaded from disk" "$(grep -F sp_metadata "$T_LOG" | tail -3)"; fi
if wait_for 10 refused; then ok "after the restart the tampered download is refused again, the good copy kept"
else fail "after the restart the tampered download is refused again"; fi

# A correctly signed but expired aggregate is refused too.
aggregate sp.example.se "$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)" >"$T/fed/tmpl-expired.xml"
xmlsec1 --sign --privkey-pem "$T/fed/fed.key" --output "$FEED/sp.xml.tmp" "$T/fed/tmpl-expired.xml" >/dev/null 2>&1 &&
	mv "$FEED/sp.xml.tmp" "$FEED/sp.xml"
expired() { grep -F '"event":"sp_metadata.refused"' "$T_LOG" | grep -F 'expired' | grep -qF '"kept":1'; }
if wait_for 15 expired; then ok "expired aggregate refused; the good copy kept"; else fail "expired aggregate refused"; fi

# SIGHUP refreshes now: with an hour between rounds, a new good copy is loaded only after SIGHUP,
# efosd keeps running, and the log says how long the round took until the new index served.
efosd_stop
sed -i 's/^idp\.metadata_refresh = .*/idp.metadata_refresh = 1h/' "$T_CONF"
cp "$T/fed/good.xml" "$FEED/sp.xml"
mv "$T_LOG" "$T_LOG.second"
efosd_start "$T_CONF" || { fail "efosd restarts with idp.metadata_refresh = 1h"; t_done; }
sleep 2   # the first round, right after start, finds the same bytes as the last good copy
aggregate sp.example.se "$(date -u -d '+2 days' +%Y-%m-%dT%H:%M:%SZ)" >"$T/fed/tmpl-new.xml"
xmlsec1 --sign --privkey-pem "$T/fed/fed.key" --output "$FEED/sp.xml.tmp" "$T/fed/tmpl-new.xml" >/dev/null 2>&1 &&
	mv "$FEED/sp.xml.tmp" "$FEED/sp.xml"
sleep 2
n_before=$(grep -F '"event":"sp_metadata.loaded"' "$T_LOG" | grep -cF '"from":"download"')
kill -HUP "$T_PID"
hup_index() { grep -F '"event":"sp_metadata.index"' "$T_LOG" | grep -q '"seconds":[0-9]'; }
if wait_for 10 hup_index && [ "$(grep -F '"event":"sp_metadata.loaded"' "$T_LOG" | grep -cF '"from":"download"')" = $((n_before + 1)) ]; then
	ok "SIGHUP: the new copy is downloaded and indexed now ($(grep -F '"event":"sp_metadata.index"' "$T_LOG" | grep -o '"seconds":[0-9.]*' | tail -1))"
else fail "SIGHUP refreshes the feed now" "$(grep -F sp_metadata "$T_LOG" | tail -3)"; fi
expect_eq "no download between start and SIGHUP (idp.metadata_refresh = 1h)" "$n_before" 0
grep -qF '"event":"sp_metadata.refresh_requested"' "$T_LOG" && efosd_alive && ok "SIGHUP is logged and efosd keeps running" ||
	fail "SIGHUP is logged and efosd keeps running"
expect_eq "/healthz is 200 after the refresh" "$(http_code "$T_URL/healthz")" 200
m=$(curl -s --max-time 10 --cacert "$T_TLS/ca.crt" "$T_URL/metrics")
expect_eq "/metrics: efos_sp_metadata_entities" "$(printf '%s\n' "$m" | sed -n 's/^efos_sp_metadata_entities //p')" 1
rounds=$(printf '%s\n' "$m" | sed -n 's/^efos_sp_metadata_refresh_rounds_total //p')
built=$(printf '%s\n' "$m" | sed -n 's/^efos_sp_metadata_index_timestamp_seconds //p')
if [ "${rounds:-0}" -ge 2 ] && [ "${built:-0}" -ge "$(($(date +%s) - 60))" ]; then
	ok "/metrics: the rounds (start + SIGHUP: $rounds) and when the index was swapped in"
else fail "/metrics: efos_sp_metadata_refresh_rounds_total and _index_timestamp_seconds" "$(printf '%s\n' "$m" | grep sp_metadata)"; fi

efosd_stop
expect_eq "efosd stops cleanly" "$T_EXIT" 0
t_done
