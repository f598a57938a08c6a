# Real SAML SPs for the IdP interop tests (tests/integration/t_idp_mellon.sh, t_idp_shib.sh),
# and a curl "browser" that logs in with the card. Source after lib.sh (and lib-creds.sh).
# The peer configurations here are adapted copies of ../shared/peers (mellon/, shib/), rendered
# at test time into the test's scratch dir.
#
#   peers_render IN OUT VAR=VALUE...   copies IN to OUT replacing @VAR@ by VALUE
#   peers_sp_metadata IN OUT NAME_SV NAME_EN [--ec URI]... [--acs URL]...
#                                      the SP's metadata with entity categories and mdui
#   peers_apache_start CONF / peers_apache_stop CONF   a private Apache (stopped at exit)
#
# The browser (one cookie jar per name, B_JAR; curl with --cacert $T_TLS/ca.crt; requests to
# $T_MTLS_URL present the card: B_CARD=(curl options)):
#   b_use_card CARD            present the enrolled card CARD (sets B_CARD, B_OPENSSL_CONF)
#   b_get URL [curl args]      one request: B_CODE, B_LOC (Location), B_URL, body in $B_BODY
#   b_walk URL [curl args]     GET and follow redirects (at most 12): B_HOPS=(URLs), then as b_get
#   b_post URL [curl args]     POST (args: --data-urlencode ...), then follow redirects
#   b_form_action / b_form_field NAME / b_text   of the last page
PEERS_DIR=${PEERS_DIR:-$EFOS_TOP/tests/peers}
PEERS_BIN=$PEERS_DIR/tools
EC_LOA4_PNR=http://id.elegnamnden.se/ec/1.0/loa4-pnr
EC_LOA4_ORGID=http://id.swedenconnect.se/ec/1.0/loa4-orgid
EC_LOA4_NAME=http://id.swedenconnect.se/ec/1.0/loa4-name
EC_CONTRACT=http://id.swedenconnect.se/contract/sc/prepaid-auth-2021
LOA4=http://id.elegnamnden.se/loa/1.0/loa4

peers_render() {
	local in=$1 out=$2; shift 2
	local -a sedargs=()
	local kv
	for kv in "$@"; do
		local k=${kv%%=*} v=${kv#*=}
		v=$(printf '%s' "$v" | sed 's/[|&\\]/\\&/g')
		sedargs+=(-e "s|@$k@|$v|g")
	done
	sed "${sedargs[@]}" "$in" >"$out"
}

peers_sp_metadata() {
	local in=$1 out=$2 sv=$3 en=$4; shift 4
	python3 "$PEERS_BIN/sp-metadata.py" "$in" "$out" --name-sv "$sv" --name-en "$en" "$@"
}

peers_apache_start() {
	local conf=$1 log
	log=$(dirname "$conf")/logs/start.log
	apache2 -f "$conf" -k start >"$log" 2>&1 || { cat "$log"; return 1; }
	t_on_exit "apache2 -f '$conf' -k stop >/dev/null 2>&1; sleep 0.3"
	local pidf
	pidf=$(awk '$1 == "PidFile" {print $2}' "$conf")
	wait_for 10 test -s "$pidf"
}

# peers_efosd_setup SP_METADATA_FILE: efosd (roles ca idp admin metadata) with the EFOS CAs, an
# IdP signing key in the test HSM (saml-signing certificate), a NameID secret, SP_METADATA_FILE
# registered, the demo registry and an enrolled card (CARD, CREDS_CARD_*); sets the browser's
# card options (B_CARD, B_OPENSSL_CONF). Fails (and says why) when a step fails.
peers_efosd_setup() {
	( umask 077; head -c 48 /dev/urandom | base64 >"$T/nameid.secret" )
	CLIENT_CA=$T/client-ca.pem
	creds_conf "$T/efos.conf" "node.roles=ca idp admin metadata" "tls.client_ca=$CLIENT_CA" \
		"idp.sp_metadata_files=$1" "idp.nameid_secret_file=$T/nameid.secret" \
		"idp.organization_name=EFOS testoperatör" "idp.metadata_org_poll=1" || { fail "config"; return 1; }
	cp "$T_TLS/client-ca.crt" "$CLIENT_CA"
	creds_ca_init || { fail "efosctl ca init"; return 1; }
	cat "$CREDS_ROOT_PEM" "$CREDS_CARD_PEM" "$T_TLS/client-ca.crt" >"$CLIENT_CA"
	KEY_URI=$("$EFOSCTL" -c "$T_CONF" hsm keygen --label "idp-sign-$$" --type rsa:2048 2>"$T/keygen.err") ||
		{ fail "hsm keygen" "$(cat "$T/keygen.err")"; return 1; }
	t_on_exit "creds_hsm_delete_uri '$KEY_URI'"
	"$EFOSCTL" -c "$T_CONF" ca issue --profile saml-signing --key-uri "$KEY_URI" --cn "EFOS Test IdP" --o "EFOS test" \
		--c SE --out "$T/idp-sign.pem" >"$T/issue.log" 2>&1 || { fail "saml-signing certificate" "$(cat "$T/issue.log")"; return 1; }
	printf 'idp.metadata_key = %s\nidp.metadata_cert = %s\n' "$KEY_URI" "$T/idp-sign.pem" >>"$T_CONF"

	creds_bootstrap_officer "Olle Officer" >"$T/officer.log" 2>&1 || { fail "officer" "$(tail -5 "$T/officer.log")"; return 1; }
	efosd_start "$T_CONF" || { fail "efosd starts"; return 1; }
	CARD=card$$
	creds_officer_env && creds_demo_registry >>"$T/officer.log" 2>&1 && creds_card_token "$CARD" &&
		creds_enroll_card "$CARD" "$CREDS_DEMO_PNR" "$CREDS_DEMO_ORGNR" --key-type ec:p256 ||
		{ fail "card enrollment" "$(tail -5 "$T/officer.log")" "$(tail -5 "${CREDS_CARD_LOG:-/dev/null}")"; return 1; }
	ok "card enrolled (card $CREDS_CARD_ID, $CREDS_DEMO_PNR)"

	b_use_card "$CARD"
	return 0
}

# ---- the browser ------------------------------------------------------------------------------
B_JAR=${B_JAR:-}
B_CARD=()
B_BODY=
# b_use_card CARD: requests to $T_MTLS_URL present the enrolled card CARD's auth key and
# certificate (CREDS_CARD_AUTH_PEM) through OpenSSL's pkcs11 engine (B_OPENSSL_CONF, B_CARD).
b_use_card() {
	P11CONF=$T/openssl-pkcs11.cnf
	creds_card_openssl_conf "$P11CONF"
	B_OPENSSL_CONF=$P11CONF
	B_CARD=(--engine pkcs11 --key-type ENG --key "$(creds_card_key_uri "$1" auth)" --cert "$CREDS_CARD_AUTH_PEM")
}
b_jar() { B_JAR=$T/jar-$1; : >"$B_JAR"; B_BODY=$T/page-$1.html; }

b_get() {
	local url=$1; shift
	local -a card=()
	case $url in "$T_MTLS_URL"/*) card=("${B_CARD[@]}");; esac
	local out
	out=$(OPENSSL_CONF=${B_OPENSSL_CONF:-} curl -sS --max-time 20 --cacert "$T_TLS/ca.crt" -c "$B_JAR" -b "$B_JAR" \
		-o "$B_BODY" -w '%{http_code} %{redirect_url}' "${card[@]}" "$@" "$url" 2>"$T/curl.err")
	B_CODE=${out%% *}
	B_LOC=${out#* }
	[ "$B_LOC" = "$out" ] && B_LOC=
	B_URL=$url
}

b_follow() {
	local i
	for i in $(seq 1 12); do
		case $B_CODE in 301|302|303|307) ;; *) return 0;; esac
		[ -n "$B_LOC" ] || return 0
		B_HOPS+=("$B_LOC")
		b_get "$B_LOC"
	done
}

b_walk() {
	B_HOPS=("$1")
	b_get "$@"
	b_follow
}

b_post() {
	local url=$1; shift
	B_HOPS=("$url")
	b_get "$url" "$@"
	b_follow
}

b_form_action() { python3 "$PEERS_BIN/html-form.py" action <"$B_BODY"; }
b_form_field() { python3 "$PEERS_BIN/html-form.py" field "$1" <"$B_BODY"; }
b_text() { python3 "$PEERS_BIN/html-form.py" text <"$B_BODY"; }
# the origin (scheme://host:port) of a URL
b_origin() { printf '%s' "$1" | sed -E 's|^(https?://[^/]+).*|\1|'; }
b_hops_match() { printf '%s\n' "${B_HOPS[@]}" | grep -qE -- "$1"; }

# The SAMLResponse of the last page, decoded (XML).
b_saml_response_xml() { b_form_field SAMLResponse | base64 -d 2>/dev/null; }

# Posts the last page's auto-POST form (SAMLResponse, or SAMLRequest for an AuthnRequest in the
# POST binding, + RelayState) to its action, like the browser's auto-submit; TAMPER=1 flips one
# byte inside a Response's signed content first.
b_submit_saml() {
	local action resp rs field=SAMLResponse
	action=$(b_form_action)
	resp=$(b_form_field SAMLResponse)
	[ -n "$resp" ] || { field=SAMLRequest; resp=$(b_form_field SAMLRequest); }
	rs=$(b_form_field RelayState)
	if [ "${TAMPER:-0}" = 1 ]; then
		resp=$(printf '%s' "$resp" | base64 -d | python3 -c '
import sys
x = sys.stdin.buffer.read()
# flip one byte of the CipherValue of the encrypted assertion (covered by the Response signature)
i = x.find(b"CipherValue>")
j = i + 12 + 40
b = bytearray(x)
b[j] = ord("A") if b[j] != ord("A") else ord("B")
sys.stdout.buffer.write(bytes(b))' | base64 -w0)
	fi
	local -a args=(--data-urlencode "$field=$resp")
	[ -n "$rs" ] && args+=(--data-urlencode "RelayState=$rs")
	b_post "$action" "${args[@]}"
}

# Posts one of the IdP's login pages (its tx and csrf fields) to PATH on the page's origin with
# the button ACTION (accept, cancel, continue, ...): b_flow_post PATH ACTION [curl args...]
b_flow_post() {
	local path=$1 action=$2; shift 2
	b_post "$(b_origin "$B_URL")$path" --data-urlencode "tx=$(b_form_field tx)" \
		--data-urlencode "csrf=$(b_form_field csrf)" --data-urlencode lang=en --data-urlencode "action=$action" "$@"
}

# From the auto-POST AuthnRequest page of a signature service, through the card login, to the
# decision on the sign-message page (accept|cancel) and past the notice if it is shown; fails
# when the sign-message page does not come.
b_sign_decide() {
	b_submit_saml
	b_follow
	[ "$(b_form_action)" = /idp/login/sign ] || return 1
	b_flow_post /idp/login/sign "$1"
	[ "$(b_form_action)" = /idp/login/consent ] && b_flow_post /idp/login/consent continue
	return 0
}
