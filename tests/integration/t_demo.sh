#!/usr/bin/env bash
# The demo installation (scripts/demo.sh, what `make run` / `make demo-start` build), in its own
# directory and on free ports so that a developer's var/demo (8443/8444, PostgreSQL 55433) is not
# touched: EFOS_DEMO_DIR=$EFOS_TEST_DIR/demo-t, EFOS_DEMO_PORT, EFOS_DEMO_PGPORT.
#
#   start provisions it with the product (efosctl init, ca init, ca issue, officer add --bootstrap,
#   the registry over the admin API, efosctl card enroll) and the env file names everything;
#   /healthz is 200 with the EFOS root as trust anchor; the card logs in with its key through the
#   pkcs11 engine (/idp/card/whoami: the person and loa4); its certificate verifies against the
#   served chain; OCSP says good; start again while it runs returns at once; `efosctl card list` as the officer shows it active;
#   the demo agency app's SignRequest signs with the demo card (sign-client.py, XAdES verified by xmlsec1);
#   stop + start reuses everything (fast, the same card); a directory without the completion
#   marker (a run that died half way) is started over from clean; clean removes the directory and
#   stops PostgreSQL.
. "$(dirname "$0")/lib.sh"
t_init t_demo

DEMO_SH=$EFOS_TOP/scripts/demo.sh
export EFOS_BIN
export EFOS_DEMO_DIR=$EFOS_TEST_DIR/demo-t

# Two consecutive free ports (HTTPS, mTLS = +1) and one for PostgreSQL; never the demo's defaults.
port_free() { ! ss -Htan "sport = :$1" 2>/dev/null | grep -q .; }
listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
pick_ports() {
	local p i
	for i in $(seq 1 50); do
		p=$(free_port) || return 1
		case $p in 8443|8444|55433) continue;; esac
		port_free $((p + 1)) && { EFOS_DEMO_PORT=$p; break; }
	done
	[ -n "${EFOS_DEMO_PORT:-}" ] || return 1
	EFOS_DEMO_PGPORT=$(free_port) || return 1
	export EFOS_DEMO_PORT EFOS_DEMO_PGPORT
}
# A demo directory left by an earlier, interrupted run of this test goes first (its ports differ).
"$DEMO_SH" clean >/dev/null 2>&1
pick_ports || { fail "free ports for the demo"; t_done; }
echo "# demo in $EFOS_DEMO_DIR on ports $EFOS_DEMO_PORT/$((EFOS_DEMO_PORT + 1)), PostgreSQL $EFOS_DEMO_PGPORT"
t_on_exit '"$DEMO_SH" clean >/dev/null 2>&1'

demo() { "$DEMO_SH" "$@"; }
T_LOG=$EFOS_DEMO_DIR/efosd.log

# ---- first start: provisioning ------------------------------------------------------------------
t0=$SECONDS
if demo start >"$T/start1.log" 2>&1; then
	ok "scripts/demo.sh start sets up the demo and starts efosd ($((SECONDS - t0)) s)"
else
	fail "scripts/demo.sh start" "$(tail -30 "$T/start1.log")"
	T_LOG=$EFOS_DEMO_DIR/provision.log dump_log
	t_done
fi
s1=$(tr '\n' ' ' <"$T/start1.log")
expect_match "it provisioned with the product: efosctl init, ca init, officer add --bootstrap, card enroll" "$s1" \
	'efosctl init.*efosctl ca init.*officer add --bootstrap.*efosctl card enroll'

# start again while it runs: reuses, and must not wait for a lock held by what it started
t0=$SECONDS
if timeout $((30 * T_SLOW)) "$DEMO_SH" start >"$T/start-again.log" 2>&1; then
	ok "start while the demo runs returns at once ($((SECONDS - t0)) s)"
else fail "start while the demo runs returns at once" "$(cat "$T/start-again.log")"; fi
expect_match "... and says efosd is already running" "$(cat "$T/start-again.log")" 'efosd already running'

want_ctl=$EFOSCTL
# shellcheck disable=SC1091
. "$EFOS_DEMO_DIR/env"
expect_eq "the demo was made with \$EFOS_BIN's efosctl" "$EFOSCTL" "$want_ctl"
missing=
for v in EFOS_URL EFOS_MTLS_URL EFOS_CA_PEM EFOS_CA_BUNDLE SOFTHSM2_CONF EFOS_CARD_MODULE EFOS_CARD_KEY_URI \
	EFOS_CARD_PIN EFOS_CARD_CERT EFOS_OFFICER_CERT EFOS_OFFICER_KEY EFOS_CONF EFOS_PG; do
	[ -n "${!v:-}" ] || missing="$missing $v"
done
for v in EFOS_CA_PEM EFOS_CA_BUNDLE SOFTHSM2_CONF EFOS_CARD_MODULE EFOS_CARD_CERT EFOS_OFFICER_CERT \
	EFOS_OFFICER_KEY EFOS_CONF; do
	[ -s "${!v:-/nonexistent}" ] || missing="$missing $v(file)"
done
expect_eq "env names every variable, and the files exist" "${missing:-none}" none
expect_eq "env is mode 0600 (it holds the card PIN)" "$(stat -c %a "$EFOS_DEMO_DIR/env")" 600
expect_eq "the officer's key file is mode 0600" "$(stat -c %a "$EFOS_OFFICER_KEY")" 600
expect_eq "EFOS_URL uses the test port" "$EFOS_URL" "https://127.0.0.1:$EFOS_DEMO_PORT"
conf=$(cat "$EFOS_CONF")
expect_match "efos.conf: roles ca and admin, the repository's profiles" "$conf" \
	"node\.roles = .*ca.*admin"
expect_match "efos.conf: ca.profiles_file is etc/profiles.conf" "$conf" "ca\.profiles_file = $EFOS_TOP/etc/profiles\.conf"
expect_match "efos.conf: tls.key is a key in the HSM token" "$conf" 'tls\.key = pkcs11:token=efos-hsm;'
expect_match "EFOS_CA_PEM is the EFOS root CA" "$(openssl x509 -in "$EFOS_CA_PEM" -noout -subject)" 'CN ?= ?EFOS Demo Root CA'
expect_match "efosd's TLS certificate was issued by the EFOS card CA (efosctl ca issue)" \
	"$(openssl x509 -in "$EFOS_DEMO_DIR/tls/server.crt" -noout -issuer)" 'CN ?= ?EFOS Card CA'

# ---- what to try ----------------------------------------------------------------------------------
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$EFOS_CA_PEM" "$EFOS_URL/healthz")
expect_eq "/healthz is 200 (curl --cacert \$EFOS_CA_PEM)" "$code" 200
# the IdP and the signing service are provisioned too: their signed metadata is served
for md in idp sigservice; do
	code=$(curl -s -o "$T/$md.xml" -w '%{http_code}' --max-time 10 --cacert "$EFOS_CA_PEM" "$EFOS_URL/metadata/$md.xml")
	expect_eq "/metadata/$md.xml is 200" "$code" 200
	expect_match "... a signed EntityDescriptor" "$(tr -d "\n" <"$T/$md.xml")" 'EntityDescriptor.*SignatureValue'
done

card_curl() {
	curl -s -o "$T/whoami.json" -w '%{http_code}' --max-time 20 --engine pkcs11 --key-type ENG \
		--key "$EFOS_CARD_KEY_URI;pin-value=$EFOS_CARD_PIN" --cert "$EFOS_CARD_CERT" --cacert "$EFOS_CA_PEM" \
		"$EFOS_MTLS_URL/idp/card/whoami" 2>"$T/whoami.err"
}
rc=0; code=$(card_curl) || rc=$?
case $code in
200)
	ok "card login with the key on the card (pkcs11 engine): /idp/card/whoami is 200"
	body=$(cat "$T/whoami.json")
	expect_match "whoami names the demo civil servant" "$body" '"personal_identity_number":"197001011233"'
	expect_match "whoami: loa4" "$body" '"loa":"http://id.elegnamnden.se/loa/1.0/loa4"' ;;
404)
	# The route is not registered yet: the TLS handshake with the card key still succeeded.
	if [ "$rc" -eq 0 ]; then ok "card TLS handshake with the key on the card succeeded (/idp/card/whoami not registered yet: 404)"
	else fail "card TLS handshake" "curl exit $rc" "$(cat "$T/whoami.err")"; fi ;;
*)	fail "card login: /idp/card/whoami" "HTTP $code, curl exit $rc" "$(cat "$T/whoami.err" "$T/whoami.json" 2>/dev/null)" ;;
esac

# The card CA as efosd serves it (DER or PEM), then openssl verify to the root.
served_ca() {
	curl -sf --max-time 10 --cacert "$EFOS_CA_PEM" -o "$T/served-card-ca" "$EFOS_URL/ca/card.crt" || return 1
	openssl x509 -inform DER -in "$T/served-card-ca" -out "$T/served-card-ca.pem" 2>/dev/null ||
		openssl x509 -in "$T/served-card-ca" -out "$T/served-card-ca.pem" 2>/dev/null
}
if served_ca; then
	check "card certificate verifies: openssl verify -CAfile root -untrusted served card CA" \
		openssl verify -CAfile "$EFOS_CA_PEM" -untrusted "$T/served-card-ca.pem" -purpose sslclient "$EFOS_CARD_CERT"
else
	fail "GET \$EFOS_URL/ca/card.crt"
fi

ocsp_out=$(openssl ocsp -issuer "$EFOS_CARD_CA_PEM" -cert "$EFOS_CARD_CERT" -url "$EFOS_URL/ocsp" \
	-CAfile "$EFOS_CA_BUNDLE" 2>&1)
expect_match "OCSP: the response verifies" "$ocsp_out" 'Response verify OK'
expect_match "OCSP: the card certificate is good" "$ocsp_out" "$EFOS_CARD_CERT: good"
crl_code=$(curl -s -o "$T/card.crl" -w '%{http_code}' --max-time 10 --cacert "$EFOS_CA_PEM" "$EFOS_URL/crl/card.crl")
expect_eq "the card CA's CRL is served" "$crl_code" 200

cards=$("$EFOSCTL" card list 2>&1)
token_serial=$(awk '$1 == "token_serial" {print $2}' "$EFOS_DEMO_DIR/card/enrolled")
expect_match "efosctl card list (as the officer) shows the demo card active" "$cards" \
	"active +$token_serial +197001011233 +2021000001"
objs=$(EFOS_P11_PIN=$EFOS_CARD_PIN pkcs11-tool --module "$EFOS_CARD_MODULE" --token-label card-demo --login \
	--pin env:EFOS_P11_PIN --list-objects --type privkey 2>&1)
expect_match "the card's keys were generated on it, never extractable" "$objs" 'never extractable, local'
auth_serial1=$(openssl x509 -in "$EFOS_CARD_CERT" -noout -serial)
card_id1=$(awk '$1 == "card_id" {print $2}' "$EFOS_DEMO_DIR/card/enrolled")

# ---- a federated signing with the demo card (issue 5): the demo agency app's SignRequest ----------------
# sign-client.py plays the app (its key and metadata: scripts/demo.sh provision_demo_app); the browser
# is curl with the card's key through the pkcs11 engine (tests/peers/lib-peers.sh b_* helpers)
demo_sign() {
	local py=python3 d=$T/sign sig_id idp_id
	[ -x /usr/bin/python3 ] && py=/usr/bin/python3
	$py -c 'import lxml, asn1crypto, cryptography' 2>/dev/null && command -v xmlsec1 >/dev/null || return 2
	. "$EFOS_TOP/tests/integration/lib-creds.sh"
	. "$EFOS_TOP/tests/peers/lib-peers.sh"
	mkdir -p "$d" "$T/demo-tls"
	cp "$EFOS_CA_PEM" "$T/demo-tls/ca.crt"
	T_TLS=$T/demo-tls T_MTLS_URL=$EFOS_MTLS_URL
	creds_card_openssl_conf "$T/p11.cnf" "$EFOS_CARD_MODULE"
	B_OPENSSL_CONF=$T/p11.cnf
	B_CARD=(--engine pkcs11 --key-type ENG --key "$EFOS_CARD_KEY_URI;pin-value=$EFOS_CARD_PIN" --cert "$EFOS_CARD_CERT")
	sig_id=$(curl -sf --cacert "$EFOS_CA_PEM" "$EFOS_URL/metadata/sigservice.xml" | grep -o 'entityID="[^"]*"' | head -1 | cut -d'"' -f2)
	idp_id=$(curl -sf --cacert "$EFOS_CA_PEM" "$EFOS_URL/metadata/idp.xml" | grep -o 'entityID="[^"]*"' | head -1 | cut -d'"' -f2)
	printf '<beslut><rubrik>Demo</rubrik><text>Jag godkänner.</text></beslut>\n' >"$d/doc.xml"
	$py "$PEERS_BIN/sign-client.py" prepare --type xml --doc "$d/doc.xml" --state "$d" --key "$EFOS_DEMO_APP_KEY" \
		--cert "$EFOS_DEMO_APP_CERT" --requester "$EFOS_DEMO_APP_ID" --service "$sig_id" --idp "$idp_id" \
		--return-url "$EFOS_DEMO_APP_RETURN_URL" --signer "urn:oid:1.2.752.29.4.13=$EFOS_CIVIL_SERVANT_PNR" \
		--sign-message "Jag skriver under beslutet." --must-show >"$d/id" 2>"$d/prep.err" || return 1
	b_jar sign
	b_post "$EFOS_URL/sign/request" --data-urlencode "Binding=POST/XML/1.0" --data-urlencode "RelayState=demo" \
		--data-urlencode "EidSignRequest=$(cat "$d/request.b64")"
	b_sign_decide accept || return 1
	b_submit_saml   # the IdP's Response to /sign/acs; its answer carries the SignResponse
	b_form_field EidSignResponse >"$d/resp.b64"
	$py "$PEERS_BIN/sign-client.py" assemble --state "$d" --response "$d/resp.b64" --out "$d/signed.xml" \
		--chain-out "$d/chain.pem" >"$d/asm.log" 2>&1
}
rc=0; demo_sign || rc=$?
if [ "$rc" = 2 ]; then ok "SKIP: the signing client needs python3-lxml/asn1crypto/cryptography and xmlsec1"
elif [ "$rc" = 0 ]; then
	ok "a federated signing with the demo card: the demo app's SignRequest, the card login, Success"
	if out=$(xmlsec1 --verify --enabled-key-data x509 --trusted-pem "$EFOS_CA_PEM" --untrusted-pem "$T/sign/chain.pem" \
		--id-attr:Id http://uri.etsi.org/01903/v1.3.2#:SignedProperties "$T/sign/signed.xml" 2>&1)
	then ok "... the signed XAdES verifies to the demo root (xmlsec1)"; else fail "... the signed XAdES verifies" "$(printf '%s' "$out" | tail -3)"; fi
	expect_match "... the signer certificate names the demo civil servant" \
		"$(openssl x509 -in "$T/sign/chain.pem" -noout -subject 2>&1)" "$EFOS_CIVIL_SERVANT_PNR"
else fail "a federated signing with the demo card" "$(cat "$T/sign/prep.err" "$T/sign/asm.log" 2>/dev/null | tail -5)" \
	"last page: ${B_CODE:-} $(b_text 2>/dev/null | head -c 300)"; fi

# ---- stop, start again: reused --------------------------------------------------------------------
if demo stop >"$T/stop1.log" 2>&1; then ok "scripts/demo.sh stop"; else fail "scripts/demo.sh stop" "$(cat "$T/stop1.log")"; fi
no_sanitizer_report() {
	if grep -qE 'Sanitizer|runtime error:' "$EFOS_DEMO_DIR/efosd.log"; then
		fail "efosd.log has no sanitizer report" "$(grep -E -A15 'Sanitizer|runtime error:' "$EFOS_DEMO_DIR/efosd.log" | head -40)"
	else ok "efosd.log has no sanitizer report"; fi
}
no_sanitizer_report
expect_match "efosd stopped cleanly" "$(cat "$EFOS_DEMO_DIR/efosd.log")" '"msg":"stopped"'
expect_eq "after stop, /healthz does not answer" \
	"$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 --cacert "$EFOS_CA_PEM" "$EFOS_URL/healthz")" 000
if pg_is_up "$EFOS_DEMO_DIR"; then fail "after stop, the demo's PostgreSQL is down"; else ok "after stop, the demo's PostgreSQL is down"; fi

t0=$SECONDS
if demo start >"$T/start2.log" 2>&1; then ok "second scripts/demo.sh start ($((SECONDS - t0)) s)"
else fail "second scripts/demo.sh start" "$(tail -20 "$T/start2.log")"; t_done; fi
s2=$(cat "$T/start2.log")
expect_match "the second start reuses the directory" "$s2" 'reusing '
if printf '%s' "$s2" | grep -qE 'setting up|card enroll|ca init'; then
	fail "the second start provisions nothing" "$s2"
else ok "the second start provisions nothing (no ca init, no enrollment)"; fi
[ $((SECONDS - t0)) -le $((20 * T_SLOW)) ] && ok "the second start is fast" || fail "the second start is fast" "took $((SECONDS - t0)) s"
expect_eq "the card certificate is the same" "$(openssl x509 -in "$EFOS_CARD_CERT" -noout -serial)" "$auth_serial1"
expect_eq "efosctl card list still shows one card, the same one" \
	"$("$EFOSCTL" card list 2>&1 | awk '{print $1, $2, $3}')" "$card_id1 active $token_serial"
code=$(card_curl) || true
case $code in 200|404) ok "the card still logs in after the restart (HTTP $code)";; *) fail "card login after restart" "HTTP $code";; esac

# ---- a directory without the completion marker is started over ------------------------------------
demo stop >/dev/null 2>&1
rm -f "$EFOS_DEMO_DIR/.provisioned"
if demo start >"$T/start3.log" 2>&1; then ok "start on a half-made directory"
else fail "start on a half-made directory" "$(tail -20 "$T/start3.log")"; t_done; fi
expect_match "it says so and starts over from a clean directory" "$(cat "$T/start3.log")" 'starting over from a clean'
. "$EFOS_DEMO_DIR/env"
if [ "$(openssl x509 -in "$EFOS_CARD_CERT" -noout -serial)" != "$auth_serial1" ]; then
	ok "the card was enrolled anew"
else fail "the card was enrolled anew"; fi
expect_eq "/healthz is 200 again" \
	"$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$EFOS_CA_PEM" "$EFOS_URL/healthz")" 200

# ---- clean ------------------------------------------------------------------------------------------
demo stop >/dev/null 2>&1
no_sanitizer_report
pgdata=$(readlink -f "$EFOS_DEMO_DIR/pg")
if demo clean >"$T/clean.log" 2>&1; then ok "scripts/demo.sh clean"; else fail "scripts/demo.sh clean" "$(cat "$T/clean.log")"; fi
[ ! -e "$EFOS_DEMO_DIR" ] && ok "clean removed the directory" || fail "clean removed the directory" "$(ls -la "$EFOS_DEMO_DIR")"
[ ! -e "$pgdata" ] && ok "clean removed the PostgreSQL data" || fail "clean removed the PostgreSQL data" "$pgdata"
if ! listening "$EFOS_DEMO_PGPORT" && ! pgrep -f -- "-D $pgdata/data" >/dev/null; then
	ok "clean stopped PostgreSQL"
else fail "clean stopped PostgreSQL" "$(ss -Htlnp "sport = :$EFOS_DEMO_PGPORT")"; fi
! listening "$EFOS_DEMO_PORT" && ok "efosd is gone" || fail "efosd is gone"
T_LOG=
t_done
