#!/usr/bin/env bash
# The demo installation under var/demo/, built once with the product's own tools and reused on
# every later run.
#   scripts/demo.sh run    provision, print what to try, run efosd in the foreground
#   scripts/demo.sh start  provision, start efosd in the background, wait for /healthz = 200
#   scripts/demo.sh stop   stop efosd (SIGTERM) and the demo PostgreSQL
#   scripts/demo.sh clean  stop, then remove var/demo
#   scripts/demo.sh env    print var/demo/env (eval "$(scripts/demo.sh env)")
#
# Provisioning (docs/demo.md), all of it through efosctl except the two SoftHSM2 tokens and the
# PostgreSQL cluster, which an operator would also make with the vendor's / distribution's tools:
#   efosctl init                       probe key efos-probe, TLS key efos-tls (HSM), schema
#   efosctl ca init                    "EFOS Demo Root CA", card and signing CAs, OCSP signers
#   efosctl ca issue --profile tls-server --key-uri (efos-tls)   efosd's TLS certificate
#   efosctl ca issue --profile officer --csr ...                  the registration officer
#   efosctl officer add --bootstrap    the officer: ca_admin + registration_officer
#   efosctl hsm keygen + ca issue --profile saml-signing   the IdP's and the signing service's
#                                      signing/encryption keys (HSM) and certificates; a demo
#                                      agency app (openssl key, SP metadata) that may send SignRequests
#   (efosd started in the background; the rest goes through its admin API as the officer)
#   efosctl org add / person add / affiliation add / proof record
#   efosctl card enroll                the card token card-demo: keys generated on the card
# The file .provisioned is written last: a directory without it is a run that died half way,
# and the next run starts over from a clean directory.
#
# For tests (tests/integration/t_demo.sh): EFOS_DEMO_DIR (default var/demo), EFOS_DEMO_PORT
# (default 8443; the client-certificate listener is EFOS_DEMO_PORT+1), EFOS_DEMO_PGPORT
# (default 55433), EFOS_BIN (default bin/).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/lib-env.sh"

DEMO=$(realpath -m "${EFOS_DEMO_DIR:-$top/var/demo}")
HTTP_PORT=${EFOS_DEMO_PORT:-8443}
MTLS_PORT=$((HTTP_PORT + 1))
PGPORT=${EFOS_DEMO_PGPORT:-55433}
EFOS_BIN=${EFOS_BIN:-$top/bin}
EFOSD=$EFOS_BIN/efosd
EFOSCTL=$EFOS_BIN/efosctl
MODULE=$EFOS_SOFTHSM_MODULE
HSM_TOKEN=efos-hsm
CARD_TOKEN=card-demo
AGENCY_NAME="Demo-myndigheten"
AGENCY_ORGNR=2021000001          # Luhn-valid, third digit >= 2 (an organisationsnummer)
PERSON_PNR=197001011233          # Luhn-valid personnummer
PERSON_GIVEN="Tjänste"
PERSON_SURNAME="Person"
PERSON_LOCAL_ID=tperson
OFFICER_NAME="Demo Registration Officer"
MARKER=$DEMO/.provisioned
STAMP=$DEMO/.efos-demo
PROVISIONED_NOW=0
LOG=$DEMO/provision.log
PG_CONNINFO="host=127.0.0.1 port=$PGPORT dbname=efos user=efos"
PG_OWNER_CONNINFO="host=127.0.0.1 port=$PGPORT dbname=efos user=efos_owner"
export SOFTHSM2_CONF=$DEMO/hsm/softhsm2.conf

say() { printf 'demo: %s\n' "$*" >&2; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

# --- helpers -----------------------------------------------------------------------------------

# secret NAME KIND: prints the secret $DEMO/secrets/NAME, creating it once (KIND: digits6 | hex16)
secret() {
	local f=$DEMO/secrets/$1
	if [ ! -s "$f" ]; then
		( umask 077; mkdir -p "$DEMO/secrets"
		  case $2 in
		  digits6) printf '%06d' $(( $(od -An -N4 -tu4 /dev/urandom) % 1000000 )) >"$f";;
		  hex16) openssl rand -hex 8 | tr -d '\n' >"$f";;
		  esac )
	fi
	chmod 0600 "$f"
	cat "$f"
}

# step DESCRIPTION CMD...: runs CMD with its output appended to provision.log; on failure shows
# the output and stops.
step() {
	local what=$1; shift
	{ printf '\n$'; printf ' %q' "$@"; printf '\n'; } >>"$LOG"
	local out rc=0
	out=$("$@" 2>&1) || rc=$?
	printf '%s\n' "$out" >>"$LOG"
	if [ $rc -ne 0 ]; then
		printf '%s\n' "$out" | tail -20 | sed 's/^/demo:   /' >&2
		die "$what failed (exit $rc; full log: $LOG)"
	fi
}

ctl() { "$EFOSCTL" -c "$DEMO/efos.conf" "$@"; }

# The demo's ports, kept from the first run (they are in the certificates' OCSP/CRL URLs).
load_ports() {
	local f=$DEMO/ports h m p
	[ -s "$f" ] || return 0
	h=$(sed -n 's/^http=//p' "$f"); m=$(sed -n 's/^mtls=//p' "$f"); p=$(sed -n 's/^pg=//p' "$f")
	if { [ -n "${EFOS_DEMO_PORT:-}" ] && [ "$EFOS_DEMO_PORT" != "$h" ]; } ||
	   { [ -n "${EFOS_DEMO_PGPORT:-}" ] && [ "$EFOS_DEMO_PGPORT" != "$p" ]; }; then
		die "$DEMO was made for ports $h/$m (PostgreSQL $p): remove it first (scripts/demo.sh clean) to use others"
	fi
	HTTP_PORT=$h MTLS_PORT=$m PGPORT=$p
}

# A directory this script made (so that starting over may remove it).
is_demo_dir() {
	[ -e "$STAMP" ] || [ -d "$DEMO/secrets" ] || [ -f "$DEMO/efos.conf" ]
}

wipe_demo() {
	stop_efosd
	pg_destroy "$DEMO"
	rm -rf "$DEMO"
}

# One provisioning at a time per directory (the lock is on the parent directory, so that nothing
# is left behind by clean). PostgreSQL and efosd are started with fd 9 closed: a daemon holding
# the lock would block every later run.
lock_demo() {
	mkdir -p "$(dirname "$DEMO")"
	exec 9<"$(dirname "$DEMO")"
	if ! flock -n 9; then
		say "another scripts/demo.sh is setting up $DEMO: waiting for it"
		flock 9
	fi
}

# --- provisioning ------------------------------------------------------------------------------

provision_tokens() {
	softhsm_conf "$DEMO/hsm" >/dev/null
	chmod 0700 "$DEMO/hsm/tokens"
	say "SoftHSM2 token $HSM_TOKEN (the HSM) and token $CARD_TOKEN (a blank card)"
	softhsm_token "$HSM_TOKEN" "$(secret hsm.so_pin hex16)" "$(secret hsm.pin hex16)"
	# The card as a manufacturer delivers it: initialised with its SO PIN (PUK) and a transport
	# PIN nobody keeps; enrollment initialises it again and sets the holder's PIN.
	softhsm_token "$CARD_TOKEN" "$(secret card.so_pin hex16)" "$(openssl rand -hex 8)"
	secret card.pin digits6 >/dev/null
	chmod 0700 "$DEMO/secrets"
}

provision_db() {
	say "PostgreSQL: private cluster on 127.0.0.1:$PGPORT, durability ON (fsync on), data in $(pg_datadir_for "$DEMO")"
	pg_up "$DEMO" "$PGPORT" on 9<&- || die "PostgreSQL failed to start (log: $(readlink -f "$DEMO/pg")/server.log)"
}

# write_config TLS_CERT [CLIENT_CA]: the demo's configuration (written again once the CA has
# issued efosd's certificate).
write_config() {
	local cert=$1 client_ca=${2:-}
	mkdir -p "$DEMO/state"
	cat >"$DEMO/efos.conf.tmp" <<CONF
# efosd configuration of the demo (written by scripts/demo.sh; see docs/configuration.md)
node.name = demo
node.state_dir = $DEMO/state
node.roles = idp signer ca admin metadata

http.listen = 127.0.0.1:$HTTP_PORT
http.mtls_listen = 127.0.0.1:$MTLS_PORT
http.public_url = https://127.0.0.1:$HTTP_PORT
http.mtls_public_url = https://127.0.0.1:$MTLS_PORT

tls.cert = $cert
tls.key = $TLS_KEY_URI
${client_ca:+tls.client_ca = $client_ca}

db.conninfo = $PG_CONNINFO
db.admin_conninfo = $PG_OWNER_CONNINFO
db.migrations_dir = $top/db

hsm.module = $MODULE
hsm.token = pkcs11:token=$HSM_TOKEN
hsm.pin_file = $DEMO/secrets/hsm.pin
hsm.probe_key = $PROBE_KEY_URI

ca.profiles_file = $top/etc/profiles.conf
${SAML_CONF:-}
log.level = info
CONF
	mv "$DEMO/efos.conf.tmp" "$DEMO/efos.conf"
}

# efosctl init: the probe and TLS keys in the HSM, the schema; its configuration (with a
# self-signed certificate) is replaced by the demo's.
provision_init() {
	say "efosctl init: probe key and TLS key in $HSM_TOKEN, database schema"
	mkdir -p "$DEMO/init"
	step "efosctl init" "$EFOSCTL" init --dir "$DEMO/init" --module "$MODULE" --token-label "$HSM_TOKEN" \
		--pin-file "$DEMO/secrets/hsm.pin" --db-conninfo "$PG_CONNINFO" --db-admin-conninfo "$PG_OWNER_CONNINFO" \
		--listen "127.0.0.1:$HTTP_PORT" --public-url "https://127.0.0.1:$HTTP_PORT" --node demo \
		--migrations-dir "$top/db"
	PROBE_KEY_URI=$(sed -n 's/^hsm\.probe_key = "\(.*\)"$/\1/p' "$DEMO/init/efos.conf")
	TLS_KEY_URI=$(sed -n 's/^tls\.key = "\(.*\)"$/\1/p' "$DEMO/init/efos.conf")
	[ -n "$PROBE_KEY_URI" ] && [ -n "$TLS_KEY_URI" ] || die "efosctl init wrote no key URIs into $DEMO/init/efos.conf"
	write_config "$DEMO/init/tls-cert.pem"
}

provision_ca() {
	say "efosctl ca init: \"EFOS Demo Root CA\", card and signing CAs, OCSP signers (keys in $HSM_TOKEN)"
	step "efosctl ca init" ctl ca init --root-name "EFOS Demo Root CA" --org "EFOS Demo"
	mkdir -p "$DEMO/ca"
	step "efosctl ca export" ctl ca export --name root --out "$DEMO/ca/root.crt"
	step "efosctl ca export" ctl ca export --name card --out "$DEMO/ca/card-ca.crt"
	step "efosctl ca export" ctl ca export --name sign --out "$DEMO/ca/sign-ca.crt"
	cat "$DEMO/ca/root.crt" "$DEMO/ca/card-ca.crt" >"$DEMO/ca/trust.pem"

	say "efosctl ca issue: efosd's TLS certificate for 127.0.0.1/localhost (key efos-tls in $HSM_TOKEN)"
	mkdir -p "$DEMO/tls"
	step "efosctl ca issue --profile tls-server" ctl ca issue --profile tls-server --key-uri "$TLS_KEY_URI" \
		--dns 127.0.0.1 --dns localhost --c SE --o "EFOS Demo" --chain --out "$DEMO/tls/chain.pem"
	openssl x509 -in "$DEMO/tls/chain.pem" -out "$DEMO/tls/server.crt"
	write_config "$DEMO/tls/chain.pem" "$DEMO/ca/trust.pem"
	rm -rf "$DEMO/init"
	step "efosctl config check" ctl config check
}

# The SAML keys: the IdP signs its metadata, Responses and SADs with efos-idp-sign; the signing
# service signs its metadata, AuthnRequests and SignResponses with sigservice-sign and decrypts
# assertions with sigservice-enc (RSA: OAEP). Certificates of profile saml-signing. (Labels must
# not start with efos-sig-: the signing service deletes such keys at start, docs/signing-service.md.)
provision_saml() {
	say "efosctl hsm keygen + ca issue --profile saml-signing: IdP and signing-service keys in $HSM_TOKEN"
	mkdir -p "$DEMO/saml"
	local label uri
	for label in efos-idp-sign sigservice-sign sigservice-enc; do
		uri=$(ctl hsm keygen --label "$label" --type rsa:2048) || die "efosctl hsm keygen --label $label failed"
		printf '%s\n' "$uri" >"$DEMO/saml/$label.uri"
		step "efosctl ca issue --profile saml-signing ($label)" ctl ca issue --profile saml-signing --key-uri "$uri" \
			--cn "EFOS Demo $label" --o "EFOS Demo" --c SE --out "$DEMO/saml/$label.pem"
	done
	( umask 077; head -c 48 /dev/urandom | base64 >"$DEMO/secrets/nameid.secret" )
	provision_demo_app
	SAML_CONF="
idp.sp_metadata_files = $DEMO/app/metadata.xml
idp.metadata_key = $(cat "$DEMO/saml/efos-idp-sign.uri")
idp.metadata_cert = $DEMO/saml/efos-idp-sign.pem
idp.nameid_secret_file = $DEMO/secrets/nameid.secret
idp.organization_name = EFOS Demo
signer.signing_key = $(cat "$DEMO/saml/sigservice-sign.uri")
signer.signing_cert = $DEMO/saml/sigservice-sign.pem
signer.encryption_key = $(cat "$DEMO/saml/sigservice-enc.uri")
signer.encryption_cert = $DEMO/saml/sigservice-enc.pem
"
	write_config "$DEMO/tls/chain.pem" "$DEMO/ca/trust.pem"
	step "efosctl config check" ctl config check
}

# A demo agency web app allowed to send SignRequests to the signing service (a requester: an SP
# whose AssertionConsumerService is its SignResponse return URL). Its key is a file, as an
# agency's own would be; tests/peers/tools/sign-client.py plays the app (docs/signing-service.md).
provision_demo_app() {
	say "the demo agency app (a signature requester): key and metadata in $DEMO/app"
	mkdir -p "$DEMO/app"; chmod 0700 "$DEMO/app"
	( umask 077; openssl req -x509 -newkey rsa:2048 -nodes -keyout "$DEMO/app/app.key" -out "$DEMO/app/app.crt" \
		-days 825 -subj "/O=$AGENCY_NAME/CN=EFOS Demo agency app" 2>/dev/null ) || die "the demo app's key failed"
	requester_metadata "$DEMO/app/metadata.xml" "$(demo_app_id)" "$(demo_app_id)/sign-return" "$DEMO/app/app.crt"
}
demo_app_id() { printf 'https://127.0.0.1:%s/demo-app' "$HTTP_PORT"; }

provision_officer() {
	say "efosctl ca issue --profile officer, officer add --bootstrap: \"$OFFICER_NAME\""
	mkdir -p "$DEMO/officer"; chmod 0700 "$DEMO/officer"
	( umask 077; openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$DEMO/officer/officer.key" 2>/dev/null )
	chmod 0600 "$DEMO/officer/officer.key"
	openssl req -new -key "$DEMO/officer/officer.key" -subj "/CN=$OFFICER_NAME" -out "$DEMO/officer/officer.csr"
	step "efosctl ca issue --profile officer" ctl ca issue --profile officer --csr "$DEMO/officer/officer.csr" \
		--cn "$OFFICER_NAME" --o "$AGENCY_NAME" --org-id "$AGENCY_ORGNR" --c SE --out "$DEMO/officer/officer.crt"
	# ca_admin for every organisation; registration_officer for the demo agency is granted over
	# the admin API once the agency exists (provision_registry).
	step "efosctl officer add --bootstrap" ctl officer add --bootstrap --cert "$DEMO/officer/officer.crt" \
		--name "$OFFICER_NAME"
}

officer_env() {
	export EFOS_MTLS_URL=https://127.0.0.1:$MTLS_PORT EFOS_CA_PEM=$DEMO/ca/root.crt \
		EFOS_OFFICER_CERT=$DEMO/officer/officer.crt EFOS_OFFICER_KEY=$DEMO/officer/officer.key
}

# Through efosd's admin API, as the officer.
provision_registry() {
	officer_env
	say "registry (admin API, as the officer): $AGENCY_NAME $AGENCY_ORGNR, registration_officer role, $PERSON_GIVEN $PERSON_SURNAME $PERSON_PNR, affiliation, in-person proofing"
	step "efosctl org add" "$EFOSCTL" org add --orgnr "$AGENCY_ORGNR" --name "$AGENCY_NAME"
	local id
	id=$("$EFOSCTL" officer whoami --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])') ||
		die "efosctl officer whoami failed"
	step "efosctl officer grant" "$EFOSCTL" officer grant "$id" --role registration_officer --org "$AGENCY_ORGNR"
	step "efosctl person add" "$EFOSCTL" person add --pnr "$PERSON_PNR" --given-name "$PERSON_GIVEN" \
		--surname "$PERSON_SURNAME" --org "$AGENCY_ORGNR"
	step "efosctl affiliation add" "$EFOSCTL" affiliation add --pnr "$PERSON_PNR" --org "$AGENCY_ORGNR" \
		--local-id "$PERSON_LOCAL_ID" --title Handläggare
	step "efosctl proof record" "$EFOSCTL" proof record --pnr "$PERSON_PNR" --document-type passport \
		--document-number DEMO00001 --checked
}

provision_card() {
	officer_env
	say "efosctl card enroll: token $CARD_TOKEN, keys generated on the card"
	mkdir -p "$DEMO/card"
	EFOS_CARD_SO_PIN=$(secret card.so_pin hex16) EFOS_CARD_PIN=$(secret card.pin digits6) \
		step "efosctl card enroll" "$EFOSCTL" card enroll --module "$MODULE" --token "$CARD_TOKEN" \
		--init --label "$CARD_TOKEN" --so-pin-env EFOS_CARD_SO_PIN --pin-env EFOS_CARD_PIN \
		--pnr "$PERSON_PNR" --org "$AGENCY_ORGNR" --out-dir "$DEMO/card"
	sed -n '/^\$ .*card enroll/,$p' "$LOG" | grep -E '^(card_id|token_serial|status|auth_serial|sign_serial) ' \
		>"$DEMO/card/enrolled"
	grep -q '^status active$' "$DEMO/card/enrolled" || die "the card did not become active (log: $LOG)"
	say "card enrolled: $(tr '\n' ' ' <"$DEMO/card/enrolled")"
}

write_env() {
	cat >"$DEMO/env.tmp" <<ENV
# The demo installation (scripts/demo.sh). Source it: . $DEMO/env
export EFOS_URL=https://127.0.0.1:$HTTP_PORT
export EFOS_MTLS_URL=https://127.0.0.1:$MTLS_PORT
export EFOS_CA_PEM=$DEMO/ca/root.crt
export EFOS_CA_BUNDLE=$DEMO/ca/trust.pem
export EFOS_CARD_CA_PEM=$DEMO/ca/card-ca.crt
export EFOS_CONF=$DEMO/efos.conf
export EFOS_PG='$PG_CONNINFO'
export EFOS_PG_SUPER='host=127.0.0.1 port=$PGPORT dbname=efos user=postgres'
export SOFTHSM2_CONF=$DEMO/hsm/softhsm2.conf
export EFOS_HSM_MODULE=$MODULE
export EFOS_HSM_TOKEN='pkcs11:token=$HSM_TOKEN'
export EFOS_HSM_PIN_FILE=$DEMO/secrets/hsm.pin
export EFOS_CARD_MODULE=$MODULE
export EFOS_CARD_TOKEN=$CARD_TOKEN
export EFOS_CARD_KEY_URI='pkcs11:token=$CARD_TOKEN;object=auth;type=private'
export EFOS_CARD_PIN=$(secret card.pin digits6)
export EFOS_CARD_CERT=$DEMO/card/auth.pem
export EFOS_CARD_SIGN_CERT=$DEMO/card/sign.pem
export EFOS_DEMO_APP_ID=$(demo_app_id)
export EFOS_DEMO_APP_RETURN_URL=$(demo_app_id)/sign-return
export EFOS_DEMO_APP_KEY=$DEMO/app/app.key
export EFOS_DEMO_APP_CERT=$DEMO/app/app.crt
export EFOS_OFFICER_CERT=$DEMO/officer/officer.crt
export EFOS_OFFICER_KEY=$DEMO/officer/officer.key
export EFOS_AGENCY_NAME='$AGENCY_NAME'
export EFOS_AGENCY_ORGNR=$AGENCY_ORGNR
export EFOS_CIVIL_SERVANT='$PERSON_GIVEN $PERSON_SURNAME'
export EFOS_CIVIL_SERVANT_PNR=$PERSON_PNR
export EFOSCTL=$EFOSCTL
ENV
	chmod 0600 "$DEMO/env.tmp"
	mv "$DEMO/env.tmp" "$DEMO/env"
}

# Called at exit while provisioning: stop what was started, and say what happens next time.
provision_failed() {
	[ -e "$MARKER" ] && return 0
	say "setting up $DEMO failed; the next run starts over from a clean $DEMO"
	stop_efosd >/dev/null 2>&1 || true
	pg_down "$DEMO"
}

provision() {
	[ "$(id -u)" -eq 0 ] || die "run as root (PostgreSQL is run as the unprivileged account $PG_RUNAS)"
	[ -x "$EFOSD" ] && [ -x "$EFOSCTL" ] || die "$EFOSD or $EFOSCTL is missing: run make first"
	lock_demo
	if [ -e "$MARKER" ]; then
		load_ports
		say "reusing $DEMO (set up $(date -r "$MARKER" '+%Y-%m-%d %H:%M'); scripts/demo.sh clean starts over)"
		provision_db
		exec 9<&-
		return 0
	fi
	if [ -d "$DEMO" ] && [ -n "$(ls -A "$DEMO" 2>/dev/null)" ]; then
		is_demo_dir || die "$DEMO exists and is not a demo directory: remove it or set EFOS_DEMO_DIR elsewhere"
		say "$DEMO was not set up completely (an earlier run died half way, or an older demo.sh made it): starting over from a clean $DEMO"
		wipe_demo
	fi
	mkdir -p "$DEMO"; chmod 0755 "$DEMO"
	: >"$STAMP"
	( umask 077; : >"$LOG" )
	trap provision_failed EXIT
	local t0=$SECONDS
	say "setting up $DEMO (log: $LOG)"
	secret hsm.so_pin hex16 >/dev/null
	provision_tokens
	provision_db
	provision_init
	provision_ca
	provision_saml
	provision_officer
	start_bg
	PROVISIONED_NOW=1
	provision_registry
	provision_card
	write_env
	printf 'http=%s\nmtls=%s\npg=%s\n' "$HTTP_PORT" "$MTLS_PORT" "$PGPORT" >"$DEMO/ports"
	date -u '+%Y-%m-%dT%H:%M:%SZ' >"$MARKER"
	trap - EXIT
	say "set up $DEMO in $((SECONDS - t0)) s"
	exec 9<&-
}

# --- efosd -------------------------------------------------------------------------------------

# The pid of the demo's efosd, when it runs (and is an efosd: pids are reused).
efosd_pid() {
	local pid
	[ -s "$DEMO/efosd.pid" ] || return 1
	pid=$(cat "$DEMO/efosd.pid")
	kill -0 "$pid" 2>/dev/null || return 1
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = efosd ] || return 1
	echo "$pid"
}

ports_free() {
	local p
	for p in $HTTP_PORT $MTLS_PORT; do
		if ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; then
			die "port $p is in use (another efosd? try: make demo-stop)"
		fi
	done
}

print_try() {
	local ctl=$EFOSCTL
	case $ctl in "$PWD"/*) ctl=${ctl#"$PWD"/};; esac
	cat <<TXT

EFOS demo
  agency:          $AGENCY_NAME (orgnr $AGENCY_ORGNR)
  civil servant:   $PERSON_GIVEN $PERSON_SURNAME ($PERSON_PNR), card = SoftHSM2 token "$CARD_TOKEN"
                   enrolled with efosctl card enroll ($(tr '\n' ' ' <"$DEMO/card/enrolled" 2>/dev/null))
  officer:         $OFFICER_NAME: $DEMO/officer/officer.crt + officer.key
  CA:              EFOS Demo Root CA -> EFOS Card CA, EFOS Signing CA (keys in SoftHSM2 token "$HSM_TOKEN")
  PostgreSQL:      127.0.0.1:$PGPORT (durability on), log $(readlink -f "$DEMO/pg")/server.log
  configuration:   $DEMO/efos.conf        everything as shell variables: $DEMO/env

Try, in another shell:
  . $DEMO/env
  curl --cacert \$EFOS_CA_PEM \$EFOS_URL/healthz
  curl --cacert \$EFOS_CA_PEM \$EFOS_URL/metrics
  # log in with the card (TLS client authentication, the key used on the card): who and which LoA
  curl --engine pkcs11 --key-type ENG --key "\$EFOS_CARD_KEY_URI;pin-value=\$EFOS_CARD_PIN" \\
       --cert \$EFOS_CARD_CERT --cacert \$EFOS_CA_PEM \$EFOS_MTLS_URL/idp/card/whoami
  # revocation status of the card's certificate (OCSP), and the card CA's CRL
  openssl ocsp -issuer \$EFOS_CARD_CA_PEM -cert \$EFOS_CARD_CERT -url \$EFOS_URL/ocsp -CAfile \$EFOS_CA_BUNDLE
  curl -s --cacert \$EFOS_CA_PEM \$EFOS_URL/crl/card.crl | openssl crl -inform DER -noout -text
  # the IdP's and the signing service's signed metadata
  curl --cacert \$EFOS_CA_PEM \$EFOS_URL/metadata/idp.xml
  curl --cacert \$EFOS_CA_PEM \$EFOS_URL/metadata/sigservice.xml
  # the officer's view (admin API over mTLS, as the officer)
  $ctl card list
  $ctl officer whoami

TXT
}

# start_bg: efosd in the background, log $DEMO/efosd.log; waits for /healthz 200.
start_bg() {
	local pid
	if pid=$(efosd_pid); then say "efosd already running (pid $pid)"; return 0; fi
	ports_free
	: >"$DEMO/efosd.log"
	setsid "$EFOSD" -c "$DEMO/efos.conf" </dev/null >>"$DEMO/efosd.log" 2>&1 9<&- &
	pid=$!
	echo "$pid" >"$DEMO/efosd.pid"
	local deadline=$((SECONDS + ${EFOS_DEMO_START_TIMEOUT:-90})) code=000
	while [ $SECONDS -lt $deadline ]; do
		if ! kill -0 "$pid" 2>/dev/null; then
			say "efosd exited during start-up; last lines of $DEMO/efosd.log:"
			tail -30 "$DEMO/efosd.log" >&2
			rm -f "$DEMO/efosd.pid"; exit 1
		fi
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 --cacert "$DEMO/ca/root.crt" \
			"https://127.0.0.1:$HTTP_PORT/healthz" || true)
		[ "$code" = 200 ] && break
		sleep 0.5
	done
	if [ "$code" != 200 ]; then
		say "efosd did not answer /healthz with 200 in time (last: $code); last lines of $DEMO/efosd.log:"
		tail -30 "$DEMO/efosd.log" >&2
		stop_efosd; exit 1
	fi
	say "efosd running (pid $pid) on https://127.0.0.1:$HTTP_PORT, log $DEMO/efosd.log"
}

stop_efosd() {
	local pid i
	pid=$(efosd_pid) || { rm -f "$DEMO/efosd.pid"; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
	if kill -0 "$pid" 2>/dev/null; then
		say "efosd (pid $pid) did not stop within 20 s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$DEMO/efosd.pid"
	say "efosd stopped"
}

run_fg() {
	local pid rc
	if pid=$(efosd_pid); then
		# efosd ran in the background for the provisioning steps that need it: stop it; one
		# started by `make demo-start` is left alone.
		[ "$PROVISIONED_NOW" = 1 ] || die "efosd already runs in the background (pid $pid): make demo-stop first"
		stop_efosd >/dev/null 2>&1
	fi
	ports_free
	print_try
	echo "Starting efosd in the foreground (Ctrl-C stops it; PostgreSQL is stopped with it)."
	echo
	"$EFOSD" -c "$DEMO/efos.conf" &
	pid=$!
	echo "$pid" >"$DEMO/efosd.pid"
	trap 'kill -TERM $pid 2>/dev/null || true' INT TERM
	rc=0
	wait "$pid" || rc=$?
	# wait returns early when a trapped signal arrives: wait for efosd itself to finish
	while kill -0 "$pid" 2>/dev/null; do wait "$pid" || rc=$?; done
	trap - INT TERM
	rm -f "$DEMO/efosd.pid"
	pg_down "$DEMO"
	exit "$rc"
}

cmd=${1:-run}
case $cmd in
run)   provision; run_fg;;
start) provision; start_bg; say "environment: . $DEMO/env";;
stop)  stop_efosd; pg_down "$DEMO"; say "PostgreSQL stopped";;
clean)
	if [ -d "$DEMO" ] && [ -n "$(ls -A "$DEMO" 2>/dev/null)" ] && ! is_demo_dir; then
		die "$DEMO is not a demo directory: not removing it"
	fi
	wipe_demo; say "removed $DEMO";;
env)   [ -s "$DEMO/env" ] || die "no demo yet: make demo-start"; cat "$DEMO/env";;
*) echo "usage: $0 run|start|stop|clean|env" >&2; exit 2;;
esac
