#!/usr/bin/env bash
# The IdP's signing support (issue 4, "Done when" second bullet; spec §1.12, §5, §6, §8, §1.6.1):
# a signature service SP (entity category st/1.0/sigservice plus loa4-pnr and the contract
# category) registered in idp.sp_metadata_files with its own RSA key (signing and encryption,
# made here) and an https ACS that nobody serves: the test is the SP, it scrapes the SAMLResponse
# from the auto-POST form, decrypts the EncryptedAssertion with xmlsec1 and the SP key, and checks
# it with xmllint/grep. Signed AuthnRequests (HTTP-Redirect, rsa-sha256) come from
# tests/peers/tools/mk-authnreq-sig.py; curl is the browser and presents the card (SoftHSM) through
# OpenSSL's pkcs11 engine (tests/peers/lib-peers.sh).
#
#   1. SignMessage (text, MustShow): shown HTML-escaped, accept → signMessageDigest = spec §6.3
#      over the message; ForceAuthn honoured (no SSO for a sigservice: the card again)
#   2. SignMessage cancel → status/1.0/cancel
#   3. SADRequest → the sad JWT verifies with the signing key of our /metadata/idp.xml; claims
#   4. PrincipalSelection naming someone else → UnknownPrincipal, the sign message not shown
#   5. holder-of-key (/idp/hok/sso/redirect): SubjectConfirmation holder-of-key with the card key
#   6. the Responses and the decrypted Assertions validate against tests/schemas/saml-protocol-efos.xsd
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-creds.sh"
. "$EFOS_TOP/tests/peers/lib-peers.sh"
t_init t_idp_sigservice

for tool in xmlsec1 xmllint python3; do
	command -v $tool >/dev/null || { echo "ok - SKIP: $tool is not installed"; t_done; }
done
EC_SIGSERVICE=http://id.elegnamnden.se/st/1.0/sigservice
SCHEMA=$EFOS_TOP/tests/schemas/saml-protocol-efos.xsd
PNR_OID=urn:oid:1.2.752.29.4.13

# ---- the signature service's metadata (efosd reads it at start) --------------------------------------
SP_PORT=$(free_port)
SP_URL=https://127.0.0.1:$SP_PORT
SP=$T/sigservice
SP_ID=$SP_URL/sigservice/metadata
ACS=$SP_URL/sigservice/acs
HOK_ACS=$SP_URL/sigservice/hok-acs
mkdir -p "$SP"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$SP/sp.key" -out "$SP/sp.crt" -days 30 \
	-subj "/O=EFOS test/CN=Test signature service" >/dev/null 2>&1 || { fail "SP key"; t_done; }
SP_CERT_B64=$(sed -e '/-----/d' "$SP/sp.crt" | tr -d '\n')
cat >"$SP/sp-metadata.xml" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"
    xmlns:mdattr="urn:oasis:names:tc:SAML:metadata:attribute" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"
    xmlns:mdui="urn:oasis:names:tc:SAML:metadata:ui"
    xmlns:hoksso="urn:oasis:names:tc:SAML:2.0:profiles:holder-of-key:SSO:browser" entityID="$SP_ID">
  <md:Extensions>
    <mdattr:EntityAttributes>
      <saml:Attribute Name="http://macedir.org/entity-category" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri">
        <saml:AttributeValue>$EC_SIGSERVICE</saml:AttributeValue>
        <saml:AttributeValue>$EC_LOA4_PNR</saml:AttributeValue>
        <saml:AttributeValue>$EC_CONTRACT</saml:AttributeValue>
      </saml:Attribute>
    </mdattr:EntityAttributes>
  </md:Extensions>
  <md:SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="true"
      protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:Extensions>
      <mdui:UIInfo>
        <mdui:DisplayName xml:lang="sv">Underskriftstjänsten (test)</mdui:DisplayName>
        <mdui:DisplayName xml:lang="en">The signature service (test)</mdui:DisplayName>
      </mdui:UIInfo>
    </md:Extensions>
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>$SP_CERT_B64</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>$SP_CERT_B64</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="$ACS" index="0" isDefault="true"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:profiles:holder-of-key:SSO:browser"
        hoksso:ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="$HOK_ACS" index="1"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
XML

# ---- efosd: CA, IdP keys, registry, card ------------------------------------------------------------------
peers_efosd_setup "$SP/sp-metadata.xml" || t_done
wait_for 10 sh -c "curl -sf --cacert '$T_TLS/ca.crt' '$T_URL/metadata/idp.xml' -o '$T/idp-metadata.xml'" ||
	{ fail "GET /metadata/idp.xml"; t_done; }
IDP_ID=$(python3 -c 'import sys,xml.etree.ElementTree as E; print(E.parse(sys.argv[1]).getroot().get("entityID"))' "$T/idp-metadata.xml")
# the signing certificate of our published metadata (the first KeyDescriptor use="signing")
python3 - "$T/idp-metadata.xml" >"$T/idp-md-sign.pem" <<'PY'
import sys, textwrap, xml.etree.ElementTree as E
MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"; DS = "{http://www.w3.org/2000/09/xmldsig#}"
root = E.parse(sys.argv[1]).getroot()
for kd in root.iter(MD + "KeyDescriptor"):
    if kd.get("use") in ("signing", None):
        c = kd.find(".//" + DS + "X509Certificate")
        b = "".join(c.text.split())
        print("-----BEGIN CERTIFICATE-----\n" + "\n".join(textwrap.wrap(b, 64)) + "\n-----END CERTIFICATE-----")
        break
PY
if openssl x509 -in "$T/idp-md-sign.pem" -noout 2>/dev/null; then ok "our metadata ($IDP_ID) and its signing certificate"
else fail "the signing certificate from our metadata" "$(head -c 300 "$T/idp-metadata.xml")"; t_done; fi

req_url() { python3 "$PEERS_BIN/mk-authnreq-sig.py" "${REQ_SSO:-$T_URL/idp/sso/redirect}" "$SP_ID" "${REQ_ACS:-$ACS}" --key "$SP/sp.key" "$@"; }

# form posts of the flow
# after the sign page: continue through the notice (if shown) to the auto-POST page
through_notice() {
	[ "$(b_form_action)" = /idp/login/consent ] && b_flow_post /idp/login/consent continue
	return 0
}
# saves the Response of the last page as NAME.resp.xml and its decrypted Assertion as NAME.assertion.xml
save_response() {
	local n=$1
	b_saml_response_xml >"$T/$n.resp.xml"
	xmlsec1 --decrypt --privkey-pem "$SP/sp.key" --output "$T/$n.dec.xml" "$T/$n.resp.xml" >"$T/$n.xmlsec.log" 2>&1 || return 1
	python3 - "$T/$n.dec.xml" >"$T/$n.assertion.xml" <<'PY' || return 1
import re, sys
x = open(sys.argv[1], encoding="utf-8").read()
m = re.search(r"<(\w+:)?Assertion[\s>]", x)
p = m.group(1) or ""
end = x.index("</%sAssertion>" % p) + len("</%sAssertion>" % p)
print('<?xml version="1.0" encoding="UTF-8"?>\n' + x[m.start():end])
PY
}
attr_value() {   # attr_value FILE NAME: the first AttributeValue of the attribute NAME
	python3 - "$1" "$2" <<'PY'
import sys, xml.etree.ElementTree as E
S = "{urn:oasis:names:tc:SAML:2.0:assertion}"
for a in E.parse(sys.argv[1]).getroot().iter(S + "Attribute"):
    if a.get("Name") == sys.argv[2]:
        v = a.find(S + "AttributeValue"); print(v.text if v is not None else ""); break
PY
}
schema_ok() {   # schema_ok NAME FILE
	local out
	if out=$(xmllint --nonet --noout --schema "$SCHEMA" "$2" 2>&1); then ok "$1"; else fail "$1" "$(printf '%s' "$out" | tail -5)"; fi
}

# ---- 1. SignMessage (text, MustShow): shown escaped, accepted → signMessageDigest; ForceAuthn -----------------
MSG='Jag skriver under <b>avtal 17</b> & godkänner "villkoren" för Ärende 2026-1.'
b_jar sign
b_walk "$(req_url --sign-message "$MSG" --mime text --must-show --display-entity "$IDP_ID")"
if b_hops_match "^$T_MTLS_URL/idp/login/card\?tx=" && [ "$(b_form_action)" = /idp/login/sign ]; then
	ok "SignMessage: the card step, then the sign-message page"
else fail "SignMessage: the card step, then the sign-message page" "hops: ${B_HOPS[*]}" "$B_CODE $(b_text | head -c 400)"; fi
expect_match "the sign-message page shows the text" "$(b_text)" "avtal 17.*godkänner"
if grep -qF 'Jag skriver under &lt;b&gt;avtal 17&lt;/b&gt; &amp; godk' "$B_BODY" && ! grep -q '<b>avtal 17' "$B_BODY"; then
	ok "... HTML-escaped (the markup is shown as text, not interpreted)"
else fail "... HTML-escaped" "$(grep -o '.\{0,60\}avtal 17.\{0,60\}' "$B_BODY" | head -2)"; fi
b_flow_post /idp/login/sign accept
through_notice
expect_eq "accept: the auto-POST page to the ACS" "$(b_form_action)" "$ACS"
if save_response sign; then ok "the EncryptedAssertion decrypts with the SP key (xmlsec1)"
else fail "the EncryptedAssertion decrypts with the SP key" "$(head -c 600 "$T/sign.resp.xml")" "$(cat "$T/sign.xmlsec.log")"; fi
expect_match "a Success Response" "$(cat "$T/sign.resp.xml")" 'status:Success'
sig_ok() {   # sig_ok NAME FILE ELEMENT: the enveloped signature verifies with our metadata signing key
	local out
	if out=$(xmlsec1 --verify --pubkey-cert-pem "$T/idp-md-sign.pem" --id-attr:ID "$3" "$2" 2>&1); then ok "$1"
	else fail "$1" "$(printf '%s' "$out" | tail -3)"; fi
}
sig_ok "the Response signature verifies with our metadata signing key" "$T/sign.resp.xml" urn:oasis:names:tc:SAML:2.0:protocol:Response
sig_ok "the Assertion signature verifies (WantAssertionsSigned)" "$T/sign.assertion.xml" urn:oasis:names:tc:SAML:2.0:assertion:Assertion
WANT="http://www.w3.org/2001/04/xmlenc#sha256;$(printf '%s' "$MSG" | openssl dgst -sha256 -binary | base64)"
expect_eq "signMessageDigest = sha256 over the UTF-8 message (spec §6.3)" "$(attr_value "$T/sign.assertion.xml" urn:oid:1.2.752.201.3.14)" "$WANT"
expect_match "... the assertion is loa4" "$(cat "$T/sign.assertion.xml")" "AuthnContextClassRef>$LOA4<"
# ForceAuthn honoured, no SSO for a signature service: the same browser without the card
B_CARD_SAVED=("${B_CARD[@]}"); B_CARD=()
b_walk "$(req_url --sign-message "$MSG" --mime text --must-show)"
if b_hops_match "^$T_MTLS_URL/idp/login/card\?tx=" && [ "$(b_form_action)" != /idp/login/sign ] && [ -z "$(b_form_field SAMLResponse)" ]; then
	ok "a second signing needs the card again (ForceAuthn, no SSO for sigservice)"
else fail "a second signing needs the card again" "hops: ${B_HOPS[*]}" "$(b_text | head -c 300)"; fi
b_walk "$(req_url --no-force)"
if b_hops_match "^$T_MTLS_URL/idp/login/card\?tx=" && [ -z "$(b_form_field SAMLResponse)" ]; then
	ok "... also with ForceAuthn=false (no SSO session for a signature service)"
else fail "... also with ForceAuthn=false" "hops: ${B_HOPS[*]}" "$(b_text | head -c 300)"; fi
B_CARD=("${B_CARD_SAVED[@]}")

# ---- 2. cancel on the sign-message page → the cancel status ---------------------------------------------------
b_jar cancel
b_walk "$(req_url --sign-message "Avbryt mig" --must-show)"
expect_eq "cancel: the sign-message page" "$(b_form_action)" /idp/login/sign
b_flow_post /idp/login/sign cancel
expect_eq "cancel: posted to the ACS at once" "$(b_form_action)" "$ACS"
b_saml_response_xml >"$T/cancel.resp.xml"
expect_match "cancel: the status http://id.elegnamnden.se/status/1.0/cancel" "$(cat "$T/cancel.resp.xml")" \
	'StatusCode Value="http://id.elegnamnden.se/status/1.0/cancel"'
if grep -q EncryptedAssertion "$T/cancel.resp.xml"; then fail "... and no assertion"; else ok "... and no assertion"; fi

# ---- 3. SADRequest → the sad JWT ---------------------------------------------------------------------------------
SAD_ID=_sad$(openssl rand -hex 8); SIGN_REQ_ID=sreq-$(openssl rand -hex 8); DOCS=3
b_jar sad
b_walk "$(req_url --sign-message "Underskrift av 3 dokument" --must-show --sad-id "$SAD_ID" \
	--sign-request-id "$SIGN_REQ_ID" --doc-count $DOCS --requester-id https://requestor.example.se/sp)"
b_flow_post /idp/login/sign accept
through_notice
if save_response sad; then ok "SADRequest: a Response whose assertion decrypts"
else fail "SADRequest: a Response whose assertion decrypts" "$(b_text | head -c 300)" "$(cat "$T/sad.xmlsec.log" 2>/dev/null)"; fi
SAD=$(attr_value "$T/sad.assertion.xml" urn:oid:1.2.752.201.3.12)
expect_match "the assertion carries the sad attribute, a JWS compact JWT" "$SAD" '^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$'
b64url() { python3 -c 'import sys,base64; s=sys.argv[1]; sys.stdout.buffer.write(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))' "$1"; }
printf '%s' "${SAD%.*}" >"$T/sad.signed"
b64url "${SAD##*.}" >"$T/sad.sig"
openssl x509 -in "$T/idp-md-sign.pem" -noout -pubkey >"$T/idp-md-sign.pub"
HDR=$(b64url "${SAD%%.*}")
expect_match "the JWT header: RS256" "$HDR" '"alg":"RS256"'
if openssl dgst -sha256 -verify "$T/idp-md-sign.pub" -signature "$T/sad.sig" "$T/sad.signed" >/dev/null 2>&1; then
	ok "the SAD signature verifies with the signing key of our published metadata"
else fail "the SAD signature verifies with the metadata signing key" "header: $HDR"; fi
# a flipped payload byte must not verify (the check above is meaningful)
printf '%sX' "${SAD%.*}" >"$T/sad.bad"
if openssl dgst -sha256 -verify "$T/idp-md-sign.pub" -signature "$T/sad.sig" "$T/sad.bad" >/dev/null 2>&1; then
	fail "... a modified SAD does not verify"; else ok "... a modified SAD does not verify"; fi
PAYLOAD=$(b64url "$(printf '%s' "$SAD" | cut -d. -f2)")
CLAIMS=$(python3 - "$PAYLOAD" "$IDP_ID" "$SP_ID" "$SAD_ID" "$SIGN_REQ_ID" "$DOCS" "$LOA4" "$(attr_value "$T/sad.assertion.xml" $PNR_OID)" "$PNR_OID" <<'PY'
import json, sys, time
p = json.loads(sys.argv[1]); iss, aud, irt, reqid, docs, loa, pnr, attr = sys.argv[2:]
x = p.get("seElnSadext", {})
bad = []
for k, got, want in (("iss", p.get("iss"), iss), ("aud", p.get("aud"), aud), ("seElnSadext.irt", x.get("irt"), irt),
                     ("seElnSadext.reqid", x.get("reqid"), reqid), ("seElnSadext.docs", x.get("docs"), int(docs)),
                     ("seElnSadext.loa", x.get("loa"), loa), ("seElnSadext.ver", x.get("ver"), "1.0"),
                     ("seElnSadext.attr", x.get("attr"), attr), ("sub", p.get("sub"), pnr)):
    if got != want: bad.append("%s: %r != %r" % (k, got, want))
now = time.time()
if not (isinstance(p.get("iat"), int) and abs(p["iat"] - now) < 120): bad.append("iat %r" % p.get("iat"))
if not (isinstance(p.get("exp"), int) and p["exp"] > now and p["exp"] > p.get("iat", 0)): bad.append("exp %r" % p.get("exp"))
if not p.get("jti"): bad.append("no jti")
print("; ".join(bad) or "ok")
PY
)
expect_eq "SAD claims: iss, aud, seElnSadext reqid = SignRequestID, docs = DocCount, loa, irt, sub/attr, iat/exp" "$CLAIMS" ok
expect_eq "... sub is the personnummer released in the same assertion" "$(attr_value "$T/sad.assertion.xml" $PNR_OID)" "$CREDS_DEMO_PNR"

# ---- 4. PrincipalSelection naming someone else → UnknownPrincipal, the message not shown ---------------------------
OTHER_PNR=191212121212
[ "$OTHER_PNR" = "$CREDS_DEMO_PNR" ] && OTHER_PNR=190101010106
b_jar principal
b_walk "$(req_url --sign-message "Hemligt meddelande till en annan" --must-show --principal "$PNR_OID=$OTHER_PNR")"
if ! grep -q 'Hemligt meddelande' "$B_BODY" && [ "$(b_form_action)" != /idp/login/sign ] && b_hops_match "^$T_MTLS_URL/idp/login/card"; then
	ok "PrincipalSelection mismatch: after the card, no sign-message page and the message not shown"
else fail "PrincipalSelection mismatch: the sign message not shown" "hops: ${B_HOPS[*]}" "$(b_text | head -c 300)"; fi
b_saml_response_xml >"$T/principal.resp.xml"
expect_match "... the error page's OK posts Requester/UnknownPrincipal" "$(cat "$T/principal.resp.xml")" 'status:Requester.*status:UnknownPrincipal'
expect_eq "... to the ACS" "$(b_form_action)" "$ACS"
# and with the card holder's own personnummer the message is shown
b_jar principal_ok
b_walk "$(req_url --sign-message "Meddelande till rätt person" --must-show --principal "$PNR_OID=$CREDS_DEMO_PNR")"
expect_match "PrincipalSelection naming the card holder: the sign message is shown" "$(b_text)" "Meddelande till rätt person"

# ---- 5. holder-of-key ---------------------------------------------------------------------------------------------
b_jar hok
b_walk "$(REQ_SSO=$T_MTLS_URL/idp/hok/sso/redirect REQ_ACS=$HOK_ACS req_url --hok)"
through_notice
if [ "$(b_form_action)" = "$HOK_ACS" ] && save_response hok; then ok "HoK: a Response to the HoK ACS whose assertion decrypts"
else fail "HoK: a Response to the HoK ACS" "hops: ${B_HOPS[*]}" "$B_CODE $(b_text | head -c 400)"; fi
HOK_CHECK=$(python3 - "$T/hok.assertion.xml" "$CREDS_CARD_AUTH_PEM" <<'PY'
import base64, ssl, subprocess, sys, xml.etree.ElementTree as E
S = "{urn:oasis:names:tc:SAML:2.0:assertion}"; DS = "{http://www.w3.org/2000/09/xmldsig#}"
DS11 = "{http://www.w3.org/2009/xmldsig11#}"
try:
    root = E.parse(sys.argv[1]).getroot()
except Exception as e:
    print("no assertion: %s" % e); sys.exit()
scs = root.findall(S + "Subject/" + S + "SubjectConfirmation")
if len(scs) != 1 or scs[0].get("Method") != "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key":
    print("SubjectConfirmation: %r" % [s.get("Method") for s in scs]); sys.exit()
ki = scs[0].find(S + "SubjectConfirmationData/" + DS + "KeyInfo")
if ki is None:
    print("no ds:KeyInfo"); sys.exit()
pem = open(sys.argv[2]).read()
card_der = ssl.PEM_cert_to_DER_cert(pem)
c = ki.find(".//" + DS + "X509Certificate")
if c is not None:
    print("ok cert" if base64.b64decode("".join(c.text.split())) == card_der else "X509Certificate is not the card's"); sys.exit()
pk = ki.find(".//" + DS11 + "PublicKey")
if pk is not None:
    spki = subprocess.run(["openssl", "x509", "-noout", "-pubkey"], input=pem.encode(), capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=spki, capture_output=True).stdout
    point = base64.b64decode("".join(pk.text.split()))
    print("ok key" if der.endswith(point) else "ECKeyValue is not the card's key"); sys.exit()
print("KeyInfo has neither the card certificate nor its key: " + E.tostring(ki).decode()[:300])
PY
)
expect_match "HoK: SubjectConfirmation holder-of-key with the card's certificate or key ($HOK_CHECK)" "$HOK_CHECK" '^ok'

# ---- 6. schema validation ---------------------------------------------------------------------------------------
for n in sign sad hok; do
	[ -s "$T/$n.resp.xml" ] && schema_ok "schema: the Response ($n)" "$T/$n.resp.xml"
	[ -s "$T/$n.assertion.xml" ] && schema_ok "schema: the decrypted Assertion ($n)" "$T/$n.assertion.xml"
done
for n in cancel principal; do
	[ -s "$T/$n.resp.xml" ] && schema_ok "schema: the error Response ($n)" "$T/$n.resp.xml"
done

efosd_alive && ok "efosd still running" || fail "efosd still running"
t_done
