#!/usr/bin/env bash
# Federated signing (issue 5 item 1; spec §7.1): efosd with roles ca idp signer (and admin,
# metadata) on one node; a requester SP registered in idp.sp_metadata_files with its own key (made
# here) and a return URL nobody serves: the test plays the browser and the requester, scraping the
# auto-POST forms. The requester's SignRequests are made by tests/peers/tools/sign-client.py.
#
#   1. GET /metadata/sigservice.xml: signed (xmlsec1 with signer.signing_cert), schema-valid,
#      sigservice entity category, AuthnRequestsSigned, the ACS
#   2. an accepted SignRequest -> the signed AuthnRequest page to our IdP; the card login and the
#      sign message accepted -> a Success SignResponse signed by the sigservice (xmlsec1); the
#      XAdES assembled by the client verifies with xmlsec1; the signer certificate carries the
#      person's serialNumber, the 1.2.752.201.5.1 extension with loa4, chains to the sign CA;
#      the per-request key was destroyed (/metrics) and none is in the token (pkcs11-tool -O)
#   2b. a PDF: the PAdES the client assembles verifies with pdfsig (its output lines) and with
#      openssl cms over the ByteRange; the signed attributes carry signingCertificateV2
#   3. refusals: unsigned and wrongly signed (security-violation posted to the registered return
#      URL, RequestID not taken), unknown requester (error page with the DSS result, nothing posted);
#      expired (req-expired), replayed RequestID (RequesterError), cancel on the sign-message
#      page (user-cancel), csig:Signer naming another person (user-mismatch)
#   4. an IdP the test controls (tests/peers/tools/test-idp.py, registered in
#      signer.idp_metadata_files): its correct answer gives Success; the same answer without a SAD,
#      with a SAD signed by another key, without the signMessageDigest of a MustShow message, or
#      with the digest of another message gives the refusal of spec §5.4 / §7.5
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-creds.sh"
. "$EFOS_TOP/tests/peers/lib-peers.sh"
t_init t_sign_fed

for tool in xmlsec1 xmllint python3 openssl; do
	command -v $tool >/dev/null || { echo "ok - SKIP: $tool is not installed"; t_done; }
done
# the client needs Debian's python3-lxml, -asn1crypto, -cryptography (scripts/install-deps.sh)
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
$PY -c 'import lxml, asn1crypto, cryptography' 2>/dev/null || { echo "ok - SKIP: python3-lxml/asn1crypto/cryptography missing"; t_done; }
CLIENT=$EFOS_TOP/tests/peers/tools/sign-client.py
PNR_OID=urn:oid:1.2.752.29.4.13

# ---- the requester (an agency web app) ------------------------------------------------------------
RQ=$T/requester
mkdir -p "$RQ"
RQ_PORT=$(free_port)
RQ_ID=https://127.0.0.1:$RQ_PORT/app
RETURN_URL=https://127.0.0.1:$RQ_PORT/app/sign-return
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$RQ/rq.key" -out "$RQ/rq.crt" -days 30 \
	-subj "/O=EFOS test/CN=Test requester" >/dev/null 2>&1 || { fail "requester key"; t_done; }
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$RQ/other.key" -out "$RQ/other.crt" -days 30 \
	-subj "/O=EFOS test/CN=Somebody else" >/dev/null 2>&1 || { fail "other key"; t_done; }
requester_metadata "$RQ/md.xml" "$RQ_ID" "$RETURN_URL" "$RQ/rq.crt"

# ---- a second IdP, played by the test ---------------------------------------------------------------------
TIDP=$T/testidp
mkdir -p "$TIDP"
TIDP_ID=https://127.0.0.1:$(free_port)/testidp
TIDP_SSO=$TIDP_ID/sso
TIDP_TOOL=$EFOS_TOP/tests/peers/tools/test-idp.py
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TIDP/idp.key" -out "$TIDP/idp.crt" -days 30 \
	-subj "/O=EFOS test/CN=Test IdP" >/dev/null 2>&1 &&
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TIDP/forger.key" >/dev/null 2>&1 &&
	$PY "$TIDP_TOOL" metadata --entity-id "$TIDP_ID" --sso-url "$TIDP_SSO" --cert "$TIDP/idp.crt" --out "$TIDP/md.xml" ||
	{ fail "the test IdP's keys and metadata"; t_done; }

# ---- efosd: CA, IdP, signing service, card --------------------------------------------------------------
( umask 077; head -c 48 /dev/urandom | base64 >"$T/nameid.secret" )
CLIENT_CA=$T/client-ca.pem
creds_conf "$T/efos.conf" "node.roles=ca idp admin metadata signer" "tls.client_ca=$CLIENT_CA" \
	"idp.sp_metadata_files=$RQ/md.xml" "idp.nameid_secret_file=$T/nameid.secret" \
	"idp.organization_name=EFOS testoperatör" "signer.idp_metadata_files=$TIDP/md.xml" || { fail "config"; t_done; }
cp "$T_TLS/client-ca.crt" "$CLIENT_CA"
creds_ca_init || { fail "efosctl ca init"; t_done; }
cat "$CREDS_ROOT_PEM" "$CREDS_CARD_PEM" "$T_TLS/client-ca.crt" >"$CLIENT_CA"
mkkey() {   # mkkey NAME CN: an HSM key with a saml-signing certificate; prints its URI
	local uri
	uri=$("$EFOSCTL" -c "$T_CONF" hsm keygen --label "$1-$$" --type rsa:2048 2>>"$T/keygen.err") || return 1
	t_on_exit "creds_hsm_delete_uri '$uri'"
	"$EFOSCTL" -c "$T_CONF" ca issue --profile saml-signing --key-uri "$uri" --cn "$2" --o "EFOS test" --c SE \
		--out "$T/$1.pem" >>"$T/issue.log" 2>&1 || return 1
	printf '%s' "$uri"
}
IDP_KEY=$(mkkey idp-sign "EFOS Test IdP") && SIG_KEY=$(mkkey sig-sign "EFOS Test signing service") &&
	ENC_KEY=$(mkkey sig-enc "EFOS Test signing service encryption") ||
	{ fail "keys and certificates" "$(cat "$T/keygen.err" "$T/issue.log" | tail -5)"; t_done; }
cat >>"$T_CONF" <<CONF
idp.metadata_key = $IDP_KEY
idp.metadata_cert = $T/idp-sign.pem
signer.signing_key = $SIG_KEY
signer.signing_cert = $T/sig-sign.pem
signer.encryption_key = $ENC_KEY
signer.encryption_cert = $T/sig-enc.pem
CONF
creds_bootstrap_officer "Olle Officer" >"$T/officer.log" 2>&1 || { fail "officer" "$(tail -5 "$T/officer.log")"; t_done; }
efosd_start "$T_CONF" || { fail "efosd starts"; dump_log; t_done; }
CARD=card$$
creds_officer_env && creds_demo_registry >>"$T/officer.log" 2>&1 && creds_card_token "$CARD" &&
	creds_enroll_card "$CARD" "$CREDS_DEMO_PNR" "$CREDS_DEMO_ORGNR" --key-type ec:p256 ||
	{ fail "card enrollment" "$(tail -5 "$T/officer.log")"; t_done; }
ok "efosd with roles ca idp signer; card enrolled ($CREDS_DEMO_PNR)"
b_use_card "$CARD"

# ---- 1. the sigservice metadata -------------------------------------------------------------------------
MD=$T/sigservice.xml
curl -sf --cacert "$T_TLS/ca.crt" "$T_URL/metadata/sigservice.xml" -o "$MD" || { fail "GET /metadata/sigservice.xml"; dump_log; t_done; }
SIG_ID=$(python3 -c 'import sys,xml.etree.ElementTree as E; print(E.parse(sys.argv[1]).getroot().get("entityID"))' "$MD")
expect_eq "entityID = http.public_url/sign" "$SIG_ID" "$T_URL/sign"
if out=$(xmlsec1 --verify --pubkey-cert-pem "$T/sig-sign.pem" --id-attr:ID urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor "$MD" 2>&1)
then ok "the metadata signature verifies with signer.signing_cert (xmlsec1)"; else fail "metadata signature" "$(printf '%s' "$out" | tail -3)"; fi
if out=$(xmllint --nonet --noout --schema "$EFOS_TOP/tests/schemas/saml-metadata-efos.xsd" "$MD" 2>&1)
then ok "schema-valid (OASIS SAML metadata + extensions)"; else fail "schema-valid" "$(printf '%s\n' "$out" | grep -v 'Skipping import' | tail -5)"; fi
md=$(cat "$MD")
expect_match "entity category sigservice" "$md" "http://id.elegnamnden.se/st/1.0/sigservice"
expect_match "AuthnRequestsSigned and WantAssertionsSigned" "$md" 'AuthnRequestsSigned="true" WantAssertionsSigned="true"'
expect_match "the HTTP-POST ACS /sign/acs" "$md" "Location=\"$T_URL/sign/acs\""
expect_match "an encryption KeyDescriptor" "$md" 'KeyDescriptor use="encryption"'
expect_match "... EncryptionMethod aes256-gcm" "$md" 'xmlenc11#aes256-gcm'
if printf '%s' "$md" | grep -q 'sprop/1.0/scal2'; then fail "no scal2 with signer.sad = when-required"; else ok "no scal2 (not every request carries a SADRequest)"; fi
curl -sf --cacert "$T_TLS/ca.crt" "$T_URL/metadata/idp.xml" -o "$T/idp.xml" || fail "GET /metadata/idp.xml"
IDP_ID=$(python3 -c 'import sys,xml.etree.ElementTree as E; print(E.parse(sys.argv[1]).getroot().get("entityID"))' "$T/idp.xml")

# ---- helpers: the requester ------------------------------------------------------------------------------
prepare() {   # prepare NAME [sign-client prepare options...]: DIR=$T/NAME
	local n=$1; shift
	mkdir -p "$T/$n"
	printf '<doc><title>Avtal</title><p>EFOS test</p></doc>\n' >"$T/$n/doc.xml"
	$PY "$CLIENT" prepare --type xml --doc "$T/$n/doc.xml" --state "$T/$n" --key "$RQ/rq.key" --cert "$RQ/rq.crt" \
		--requester "$RQ_ID" --service "$SIG_ID" --idp "$IDP_ID" --return-url "$RETURN_URL" "$@" >"$T/$n/id" 2>"$T/$n/prep.err"
}
post_request() {   # post_request NAME: POST /sign/request as the browser
	b_jar "$1"
	b_post "$T_URL/sign/request" --data-urlencode "Binding=POST/XML/1.0" --data-urlencode "RelayState=rs-$1" \
		--data-urlencode "EidSignRequest=$(cat "$T/$1/request.b64")"
}
result_of_page() {   # the "MAJOR MINOR MESSAGE" of the SignResponse on the current page
	b_form_field EidSignResponse >"$T/resp.b64"
	$PY "$CLIENT" result --response "$T/resp.b64"
}
# ---- 2. a signing ------------------------------------------------------------------------------------------
MSG="Jag skriver under avtalet."
prepare ok --signer "$PNR_OID=$CREDS_DEMO_PNR" --sign-message "$MSG" --must-show || fail "prepare" "$(cat "$T/ok/prep.err")"
post_request ok
if [ "$B_CODE" = 200 ] && [ "$(b_form_action)" = "$T_URL/idp/sso/post" ] && [ -n "$(b_form_field SAMLRequest)" ]; then
	ok "an accepted SignRequest: the auto-POST AuthnRequest page to our IdP"
else fail "the AuthnRequest page" "$B_CODE $(b_form_action)" "$(b_text | head -c 400)"; dump_log; fi
b_form_field SAMLRequest | base64 -d >"$T/authnreq.xml" 2>/dev/null
if out=$(xmlsec1 --verify --pubkey-cert-pem "$T/sig-sign.pem" --id-attr:ID urn:oasis:names:tc:SAML:2.0:protocol:AuthnRequest "$T/authnreq.xml" 2>&1)
then ok "the AuthnRequest is signed with signer.signing_key"; else fail "AuthnRequest signature" "$(printf '%s' "$out" | tail -3)"; fi
expect_match "... ForceAuthn, the SignMessage, RequesterID" "$(cat "$T/authnreq.xml")" 'ForceAuthn="true".*SignMessage.*RequesterID'
# our IdP declares scal2 and the request has a SignMessage: a SADRequest goes with it, so the
# Success below also means the SAD passed the ten checks of spec §5.3
expect_match "... a sap:SADRequest for the one task (IdP scal2 + SignMessage)" "$(tr -d '\n' <"$T/authnreq.xml")" \
	'SADRequest.*<sap:DocCount>1</sap:DocCount>'
if b_sign_decide accept; then ok "the card login and the sign-message page (accepted)"
else fail "card login / sign-message page" "hops: ${B_HOPS[*]}" "$B_CODE $(b_text | head -c 400)"; fi
expect_eq "the IdP's answer goes to /sign/acs" "$(b_form_action)" "$T_URL/sign/acs"
b_form_field SAMLResponse >"$T/ok.samlresponse"; b_form_field RelayState >"$T/ok.relay"
b_submit_saml
expect_eq "the SignResponse page posts to the return URL" "$(b_form_action)" "$RETURN_URL"
expect_eq "... with the requester's RelayState" "$(b_form_field RelayState)" "rs-ok"
res=$(result_of_page)
expect_match "Success" "$res" "resultmajor:Success"
base64 -d "$T/resp.b64" >"$T/resp.xml" 2>/dev/null
if out=$(xmlsec1 --verify --pubkey-cert-pem "$T/sig-sign.pem" "$T/resp.xml" 2>&1)
then ok "the SignResponse signature verifies with the sigservice certificate"; else fail "SignResponse signature" "$(printf '%s' "$out" | tail -3)"; fi
if $PY "$CLIENT" assemble --state "$T/ok" --response "$T/resp.b64" --out "$T/signed.xml" --chain-out "$T/chain.pem" >"$T/asm.log" 2>&1; then
	ok "the client assembles the XAdES document"
	if out=$(xmlsec1 --verify --enabled-key-data x509 --trusted-pem "$CREDS_ROOT_PEM" --untrusted-pem "$T/chain.pem" \
		--id-attr:Id http://uri.etsi.org/01903/v1.3.2#:SignedProperties "$T/signed.xml" 2>&1) ||
	   out=$(xmlsec1 --verify --pubkey-cert-pem <(openssl x509 -in "$T/chain.pem") \
		--id-attr:Id http://uri.etsi.org/01903/v1.3.2#:SignedProperties "$T/signed.xml" 2>&1)
	then ok "the assembled XAdES verifies (xmlsec1 --verify)"; else fail "XAdES verifies" "$(printf '%s' "$out" | tail -3)"; fi
	openssl x509 -in "$T/chain.pem" -noout -text >"$T/signer.txt" 2>&1
	expect_match "signer certificate: the person's serialNumber" "$(cat "$T/signer.txt")" "serialNumber *= *$CREDS_DEMO_PNR"
	expect_match "... the authentication-context extension 1.2.752.201.5.1" "$(cat "$T/signer.txt")" "1\.2\.752\.201\.5\.1"
	openssl x509 -in "$T/chain.pem" -outform DER | grep -aq "loa/1.0/loa4" && ok "... with the loa4 context" || fail "... loa4 context"
	if openssl verify -CAfile "$CREDS_ROOT_PEM" -untrusted "$T/chain.pem" "$T/chain.pem" >/dev/null 2>&1
	then ok "... chains to the sign CA and the root"; else fail "... chains to the root" "$(openssl verify -CAfile "$CREDS_ROOT_PEM" -untrusted "$T/chain.pem" "$T/chain.pem" 2>&1 | tail -2)"; fi
else fail "the client assembles the XAdES document" "$(tail -5 "$T/asm.log")"; fi
# the per-request key is a session object inside efosd (no other program can list it): efosd
# counts them on /metrics; none may be alive once the SignResponse is out
m=$(curl -s --max-time 10 --cacert "$T_TLS/ca.crt" "$T_URL/metrics")
made=$(printf '%s\n' "$m" | sed -n 's/^efos_signer_keys_created_total //p')
expect_eq "the per-request key was destroyed (/metrics: efos_signer_keys_live 0, created $made)" \
	"$(printf '%s\n' "$m" | sed -n 's/^efos_signer_keys_live //p') $([ "${made:-0}" -ge 1 ] && echo made)" "0 made"
# and none was written to the token's storage (the keys of earlier versions were token objects)
if command -v pkcs11-tool >/dev/null; then
	objs=$(EFOS_P11_PIN=$EFOS_TEST_HSM_PIN pkcs11-tool --module "$EFOS_TEST_HSM_MODULE" --token-label efos-hsm \
		--login --pin env:EFOS_P11_PIN -O 2>/dev/null)
	if ! printf '%s' "$objs" | grep -q 'label: *probe'; then fail "listing the HSM's objects (pkcs11-tool)"
	elif printf '%s' "$objs" | grep -q 'label: *efos-sig-'; then fail "a per-request key is left in the HSM" "$(printf '%s' "$objs" | grep 'efos-sig-')"
	else ok "no efos-sig-* key left in the HSM (pkcs11-tool -O)"; fi
fi

# ---- 2b. a PDF: PAdES assembled by the client, checked by pdfsig and openssl over the ByteRange ----------
mkdir -p "$T/pdf"
$PY "$CLIENT" mkpdf "$T/pdf/doc.pdf" --text "Beslut om EFOS-kort"
$PY "$CLIENT" prepare --type pdf --doc "$T/pdf/doc.pdf" --state "$T/pdf" --key "$RQ/rq.key" --cert "$RQ/rq.crt" \
	--requester "$RQ_ID" --service "$SIG_ID" --idp "$IDP_ID" --return-url "$RETURN_URL" \
	--signer "$PNR_OID=$CREDS_DEMO_PNR" --sign-message "$MSG" --must-show >"$T/pdf/id" 2>"$T/pdf/prep.err" ||
	fail "prepare the PDF" "$(cat "$T/pdf/prep.err")"
post_request pdf
if b_sign_decide accept; then b_submit_saml; expect_match "PDF: Success" "$(result_of_page)" "resultmajor:Success"
else fail "PDF: card login / sign-message page" "$B_CODE $(b_text | head -c 300)"; fi
if $PY "$CLIENT" assemble --state "$T/pdf" --response "$T/resp.b64" --out "$T/signed.pdf" --chain-out "$T/pdfchain.pem" \
	>"$T/pdfasm.log" 2>&1; then
	ok "the client assembles the PAdES document"
	if command -v pdfsig >/dev/null && command -v certutil >/dev/null; then
		mkdir -p "$T/nss"
		certutil -N -d "sql:$T/nss" --empty-password >/dev/null 2>&1
		certutil -A -d "sql:$T/nss" -n efos-root -t CT,C,C -i "$CREDS_ROOT_PEM" >/dev/null 2>&1
		out=$(pdfsig -nssdir "sql:$T/nss" "$T/signed.pdf" 2>&1)
		expect_match "pdfsig: Signature is Valid" "$out" "Signature Validation: Signature is Valid\."
		# poppler 22.12 reports "Unknown issue" for a path NSS validates when the certificate has
		# an OCSP URL (see t_seal_pades.sh); vfychain below checks the path itself
		expect_match "pdfsig: the certificate is not untrusted" "$out" \
			"Certificate Validation: (Certificate is Trusted\.|Unknown issue with Certificate)"
		openssl x509 -in "$T/pdfchain.pem" -out "$T/pdfsigner.pem"
		expect_match "NSS validates the signer's path (vfychain)" \
			"$(vfychain -d "sql:$T/nss" -pp -u 4 -a "$T/pdfsigner.pem" -a "$CREDS_SIGN_PEM" 2>&1)" "Chain is good"
	else
		ok "SKIP: pdfsig/certutil not installed"
	fi
	$PY "$CLIENT" pdf-ranges --pdf "$T/signed.pdf" --content "$T/pdf.content" --cms "$T/pdf.p7s"
	cat "$CREDS_SIGN_PEM" "$CREDS_ROOT_PEM" >"$T/cas.pem"
	if out=$(openssl cms -verify -binary -inform DER -in "$T/pdf.p7s" -content "$T/pdf.content" -CAfile "$T/cas.pem" \
		-purpose any -out /dev/null 2>&1); then ok "openssl cms -verify over the ByteRange"
	else fail "openssl cms -verify over the ByteRange" "$out"; fi
	openssl cms -cmsout -print -inform DER -in "$T/pdf.p7s" >"$T/pdf.p7s.txt" 2>&1
	expect_match "... the signed attributes carry signingCertificateV2 (added by the service)" "$(cat "$T/pdf.p7s.txt")" \
		"id-smime-aa-signingCertificateV2"
else fail "the client assembles the PAdES document" "$(tail -5 "$T/pdfasm.log")"; fi

# ---- 3. refusals ------------------------------------------------------------------------------------------
# not authentic, but in a registered requester's name and to its registered return URL: the
# security-violation refusal goes back there (nothing else is sent, and the RequestID is not taken)
prepare unsigned --unsigned && post_request unsigned
expect_match "unsigned request: RequesterError security-violation posted back" "$(result_of_page)" \
	"RequesterError.*security-violation.*not signed"
prepare wrongkey --sign-key "$RQ/other.key" && post_request wrongkey
expect_match "wrongly signed request: RequesterError security-violation posted back" "$(result_of_page)" \
	"RequesterError.*security-violation.*not valid"
prepare wrongkey2 --sign-key "$RQ/other.key" --request-id "$(cat "$T/wrongkey/id")" && post_request wrongkey2
expect_match "... its RequestID was not taken (the same ID again: still security-violation, not a replay)" \
	"$(result_of_page)" "security-violation"
mkdir -p "$T/unknown"
printf '<doc/>\n' >"$T/unknown/doc.xml"
$PY "$CLIENT" prepare --type xml --doc "$T/unknown/doc.xml" --state "$T/unknown" --key "$RQ/other.key" --cert "$RQ/other.crt" \
	--requester "https://unknown.example/app" --service "$SIG_ID" --idp "$IDP_ID" --return-url "$RETURN_URL" >/dev/null 2>&1 &&
	post_request unknown
expect_eq "unknown requester: an error page (400), nothing posted" "$B_CODE $(b_form_field EidSignResponse)" "400 "
expect_match "... the page gives the DSS result" "$(b_text)" "RequesterError.*security-violation"
prepare expired --age 900 && post_request expired
expect_match "expired request: req-expired posted back" "$(result_of_page)" "RequesterError.*req-expired"
prepare replay --request-id "$(cat "$T/ok/id")"
post_request replay
expect_match "replayed RequestID: RequesterError" "$(result_of_page)" "RequesterError"
prepare cancel --signer "$PNR_OID=$CREDS_DEMO_PNR" --sign-message "$MSG" --must-show && post_request cancel
if b_sign_decide cancel; then b_submit_saml; expect_match "cancel on the sign-message page: user-cancel" "$(result_of_page)" "user-cancel"
else fail "cancel: the sign-message page" "$B_CODE $(b_text | head -c 300)"; fi
prepare other --signer "$PNR_OID=197001011234" --sign-message "$MSG" && post_request other
b_submit_saml; b_follow
if [ -n "$(b_form_field SAMLResponse)" ]; then
	b_submit_saml
	expect_match "csig:Signer names another person: user-mismatch" "$(result_of_page)" "user-mismatch"
else
	[ "$(b_form_action)" = /idp/login/sign ] && b_flow_post /idp/login/sign accept
	[ -n "$(b_form_field SAMLResponse)" ] && b_submit_saml
	expect_match "csig:Signer names another person: user-mismatch" "$(result_of_page)" "user-mismatch"
fi
# ---- 4. the IdP the test plays: a correct answer, then each one spoiled in one way --------------------------
tidp_case() {   # tidp_case NAME [test-idp.py respond options...]: the DSS result of the SignResponse
	local n=$1 rs; shift
	prepare "$n" --idp "$TIDP_ID" --signer "$PNR_OID=$CREDS_DEMO_PNR" --sign-message "$MSG" --must-show || return 1
	post_request "$n"
	[ "$(b_form_action)" = "$TIDP_SSO" ] || { echo "no AuthnRequest page to the test IdP: $B_CODE $(b_form_action)"; return 1; }
	b_form_field SAMLRequest | base64 -d >"$T/$n/authnreq.xml"
	rs=$(b_form_field RelayState)
	$PY "$TIDP_TOOL" respond --authn-request "$T/$n/authnreq.xml" --entity-id "$TIDP_ID" --key "$TIDP/idp.key" \
		--cert "$TIDP/idp.crt" --sp-encryption-cert "$T/sig-enc.pem" --pnr "$CREDS_DEMO_PNR" "$@" \
		>"$T/$n/samlresponse" 2>"$T/$n/idp.err" || { echo "test-idp.py: $(tail -3 "$T/$n/idp.err")"; return 1; }
	b_post "$T_URL/sign/acs" --data-urlencode "SAMLResponse=$(cat "$T/$n/samlresponse")" --data-urlencode "RelayState=$rs"
	result_of_page
}
res=$(tidp_case tidp-ok)
expect_match "the test IdP's correct answer (SAD, signMessageDigest): Success" "$res" "resultmajor:Success"
expect_match "... its AuthnRequest carried a SADRequest (the IdP declares scal2)" "$(tr -d '\n' <"$T/tidp-ok/authnreq.xml")" \
	"sap:SADRequest"
expect_match "no SAD although one was requested: user-mismatch" "$(tidp_case tidp-nosad --sad none)" \
	"ResponderError.*user-mismatch.*no Signature Activation Data"
expect_match "a SAD signed by another key: user-mismatch (SAD check 1)" \
	"$(tidp_case tidp-forged --sad forged --forge-key "$TIDP/forger.key")" "ResponderError.*user-mismatch.*SAD check 1"
expect_match "a MustShow sign message not shown (no signMessageDigest): sigmessage-error" \
	"$(tidp_case tidp-nosmd --sign-message-digest none)" "ResponderError.*sigmessage-error.*not confirm"
expect_match "the digest of another message: sigmessage-error" \
	"$(tidp_case tidp-wrongsmd --sign-message-digest wrong)" "ResponderError.*sigmessage-error.*not the one requested"

# the IdP's answer posted to /sign/acs a second time: the transaction is single-use
b_jar again
b_post "$T_URL/sign/acs" --data-urlencode "SAMLResponse=$(cat "$T/ok.samlresponse")" --data-urlencode "RelayState=$(cat "$T/ok.relay")"
expect_eq "the same IdP answer twice: 400, no SignResponse" "$B_CODE $(b_form_field EidSignResponse)" "400 "
t_done
