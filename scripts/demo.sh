#!/usr/bin/env bash
# The demo installation under var/demo/, built once and reused on every later run.
#   scripts/demo.sh run    provision, print what to try, run efosd in the foreground
#   scripts/demo.sh start  provision, start efosd in the background, wait for /healthz = 200
#   scripts/demo.sh stop   stop efosd (SIGTERM) and the demo PostgreSQL
#   scripts/demo.sh clean  stop, then remove var/demo
#   scripts/demo.sh env    print var/demo/env (eval "$(scripts/demo.sh env)")
#
# What var/demo holds:
#   secrets/       PINs, generated once at random, mode 0600 (HSM SO PIN + PIN, card SO PIN + PIN)
#   hsm/           SoftHSM2 configuration and tokens: "efos-hsm" (the HSM: CA keys, TLS key,
#                  probe key) and "card-demo" (the demo civil servant's card)
#   pg/            private PostgreSQL cluster on 127.0.0.1:55433, durability ON (fsync on)
#   ca/            demo CA certificates (keys live in the HSM token), OpenSSL config
#   tls/           efosd's server certificate chain (key in the HSM token)
#   officer/       the demo registration officer's credential (key file + certificate)
#   card/          the demo card's certificate (also written onto the card)
#   efos.conf      efosd/efosctl configuration; env: shell variables naming all of the above
#   efosd.log, efosd.pid   the background efosd of `start`
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/lib-env.sh"

DEMO=${EFOS_DEMO_DIR:-$top/var/demo}
PGPORT=${EFOS_DEMO_PGPORT:-55433}
HTTP_PORT=8443
MTLS_PORT=8444
EFOS_BIN=${EFOS_BIN:-$top/bin}
EFOSD=$EFOS_BIN/efosd
EFOSCTL=$EFOS_BIN/efosctl
MODULE=$EFOS_SOFTHSM_MODULE
HSM_TOKEN=efos-hsm
CARD_TOKEN=card-demo
AGENCY_NAME="Demo-myndigheten"
AGENCY_ORGNR=2021000001

say() { printf 'demo: %s\n' "$*" >&2; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

# --- secrets -------------------------------------------------------------------------------

# secret NAME KIND: prints the secret var/demo/secrets/NAME, creating it once (KIND: digits6 | hex16)
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

provision_secrets() {
	secret hsm.so_pin hex16 >/dev/null
	secret hsm.pin hex16 >/dev/null
	secret card.so_pin hex16 >/dev/null
	secret card.pin digits6 >/dev/null
	chmod 0700 "$DEMO/secrets"
}

# --- SoftHSM2 tokens and keys ----------------------------------------------------------------

provision_tokens() {
	export SOFTHSM2_CONF
	SOFTHSM2_CONF=$(softhsm_conf "$DEMO/hsm")
	chmod 0700 "$DEMO/hsm/tokens"
	if ! token_exists "$HSM_TOKEN"; then
		say "creating SoftHSM2 token $HSM_TOKEN (the HSM)"
		softhsm_token "$HSM_TOKEN" "$(secret hsm.so_pin hex16)" "$(secret hsm.pin hex16)"
	fi
	if ! token_exists "$CARD_TOKEN"; then
		say "creating SoftHSM2 token $CARD_TOKEN (the demo civil servant's card)"
		softhsm_token "$CARD_TOKEN" "$(secret card.so_pin hex16)" "$(secret card.pin digits6)"
	fi
}

token_exists() {
	softhsm2-util --show-slots 2>/dev/null | grep -q "Label:[[:space:]]*$1[[:space:]]*\$"
}

# p11 TOKEN PINFILE ARGS...: pkcs11-tool logged in to TOKEN, the PIN passed through the
# environment (never argv).
p11() {
	local token=$1 pinfile=$2; shift 2
	EFOS_P11_PIN=$(cat "$pinfile") pkcs11-tool --module "$MODULE" --token-label "$token" \
		--login --pin env:EFOS_P11_PIN "$@"
}

key_exists() {   # TOKEN PINFILE LABEL
	p11 "$1" "$2" --list-objects --type privkey 2>/dev/null | grep -q "label:[[:space:]]*$3\$"
}

# keygen TOKEN PINFILE LABEL ID TYPE: a key pair generated inside the token (sensitive,
# never extractable), unless a private key with that label is already there.
keygen() {
	local token=$1 pinfile=$2 label=$3 id=$4 type=$5
	key_exists "$token" "$pinfile" "$label" && return 0
	say "generating $type key '$label' in token $token"
	p11 "$token" "$pinfile" --keypairgen --key-type "$type" --id "$id" --label "$label" \
		--usage-sign --sensitive >/dev/null 2>"$DEMO/keygen.err" \
		|| { cat "$DEMO/keygen.err" >&2; die "key generation failed: $token/$label"; }
	rm -f "$DEMO/keygen.err"
}

# The URI OpenSSL's pkcs11 engine uses for a token key; the PIN comes from a file.
engine_uri() {   # TOKEN LABEL PINFILE
	echo "pkcs11:token=$1;object=$2;type=private?pin-source=file:$3"
}

# --- the demo CA (replaced by `efosctl ca init` in a later issue) ----------------------------

openssl_conf() {
	local conf=$DEMO/ca/openssl.cnf enginesdir
	enginesdir=$(openssl version -e | sed -n 's/^ENGINESDIR: "\(.*\)"$/\1/p')
	mkdir -p "$DEMO/ca"
	cat >"$conf" <<CNF
# OpenSSL with the pkcs11 engine (libp11) bound to SoftHSM2; written by scripts/demo.sh.
openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = $enginesdir/pkcs11.so
MODULE_PATH = $MODULE
init = 0

[req]
distinguished_name = req_dn
string_mask = utf8only
utf8 = yes
[req_dn]

[v3_root]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash

[v3_issuing]
basicConstraints = critical,CA:true,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[v3_server]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[v3_officer]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[v3_card_auth]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
	echo "$conf"
}

# issue CSR OUT EXT: the issuing CA ("EFOS Demo Card CA") signs CSR with extensions EXT,
# its key used inside the HSM token.
issue() {
	local csr=$1 out=$2 ext=$3 days=${4:-825}
	OPENSSL_CONF=$OSSL_CONF openssl x509 -req -in "$csr" -engine pkcs11 \
		-CA "$DEMO/ca/card-ca.crt" -CAkeyform engine -CAkey "$(engine_uri "$HSM_TOKEN" card-ca "$DEMO/secrets/hsm.pin")" \
		-set_serial "0x$(openssl rand -hex 16)" -days "$days" -sha256 \
		-extfile "$OSSL_CONF" -extensions "$ext" -out "$out" 2>"$DEMO/ca/openssl.err" \
		|| { cat "$DEMO/ca/openssl.err" >&2; die "issuing $out failed"; }
}

# csr_engine TOKEN LABEL PINFILE SUBJECT OUT: a CSR signed by the token key (proof of possession).
csr_engine() {
	OPENSSL_CONF=$OSSL_CONF openssl req -new -engine pkcs11 -keyform engine \
		-key "$(engine_uri "$1" "$2" "$3")" -utf8 -subj "$4" -sha256 -out "$5" 2>"$DEMO/ca/openssl.err" \
		|| { cat "$DEMO/ca/openssl.err" >&2; die "CSR for $1/$2 failed"; }
}

provision_demo_ca() {
	local pin=$DEMO/secrets/hsm.pin
	keygen "$HSM_TOKEN" "$pin" root-ca 10 rsa:3072
	keygen "$HSM_TOKEN" "$pin" card-ca 11 rsa:3072
	if [ ! -s "$DEMO/ca/root.crt" ]; then
		say "creating root CA \"EFOS Demo Root CA\" (key in token $HSM_TOKEN)"
		OPENSSL_CONF=$OSSL_CONF openssl req -new -x509 -engine pkcs11 -keyform engine \
			-key "$(engine_uri "$HSM_TOKEN" root-ca "$pin")" -utf8 \
			-subj "/C=SE/O=EFOS Demo/CN=EFOS Demo Root CA" -days 7300 -sha256 \
			-set_serial "0x$(openssl rand -hex 16)" -extensions v3_root \
			-out "$DEMO/ca/root.crt.tmp" 2>"$DEMO/ca/openssl.err" \
			|| { cat "$DEMO/ca/openssl.err" >&2; die "root CA failed"; }
		mv "$DEMO/ca/root.crt.tmp" "$DEMO/ca/root.crt"
		rm -f "$DEMO/ca/card-ca.crt"
	fi
	if [ ! -s "$DEMO/ca/card-ca.crt" ]; then
		say "creating issuing CA \"EFOS Demo Card CA\" (key in token $HSM_TOKEN)"
		csr_engine "$HSM_TOKEN" card-ca "$pin" "/C=SE/O=EFOS Demo/CN=EFOS Demo Card CA" "$DEMO/ca/card-ca.csr"
		OPENSSL_CONF=$OSSL_CONF openssl x509 -req -in "$DEMO/ca/card-ca.csr" -engine pkcs11 \
			-CA "$DEMO/ca/root.crt" -CAkeyform engine -CAkey "$(engine_uri "$HSM_TOKEN" root-ca "$pin")" \
			-set_serial "0x$(openssl rand -hex 16)" -days 3650 -sha256 \
			-extfile "$OSSL_CONF" -extensions v3_issuing -out "$DEMO/ca/card-ca.crt.tmp" 2>"$DEMO/ca/openssl.err" \
			|| { cat "$DEMO/ca/openssl.err" >&2; die "issuing CA failed"; }
		mv "$DEMO/ca/card-ca.crt.tmp" "$DEMO/ca/card-ca.crt"
		rm -f "$DEMO/tls/server.crt" "$DEMO/officer/officer.crt" "$DEMO/card/auth.crt"
	fi
	cat "$DEMO/ca/root.crt" "$DEMO/ca/card-ca.crt" >"$DEMO/ca/trust.pem"
	rm -f "$DEMO/ca/openssl.err"
}

# --- end entities ----------------------------------------------------------------------------

provision_tls() {
	local pin=$DEMO/secrets/hsm.pin
	keygen "$HSM_TOKEN" "$pin" tls 20 rsa:2048
	keygen "$HSM_TOKEN" "$pin" probe 21 EC:prime256v1
	mkdir -p "$DEMO/tls"
	if [ ! -s "$DEMO/tls/server.crt" ]; then
		say "issuing the TLS server certificate for 127.0.0.1/localhost (key in token $HSM_TOKEN)"
		csr_engine "$HSM_TOKEN" tls "$pin" "/C=SE/O=EFOS Demo/CN=localhost" "$DEMO/tls/server.csr"
		issue "$DEMO/tls/server.csr" "$DEMO/tls/server.crt.tmp" v3_server
		mv "$DEMO/tls/server.crt.tmp" "$DEMO/tls/server.crt"
	fi
	cat "$DEMO/tls/server.crt" "$DEMO/ca/card-ca.crt" >"$DEMO/tls/chain.pem"
}

provision_officer() {
	mkdir -p "$DEMO/officer"; chmod 0700 "$DEMO/officer"
	if [ ! -s "$DEMO/officer/officer.key" ]; then
		( umask 077; openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
			-out "$DEMO/officer/officer.key" 2>/dev/null )
		rm -f "$DEMO/officer/officer.crt"
	fi
	if [ ! -s "$DEMO/officer/officer.crt" ]; then
		say "issuing the demo registration officer's certificate (clientAuth)"
		openssl req -new -key "$DEMO/officer/officer.key" -utf8 \
			-subj "/C=SE/O=$AGENCY_NAME/organizationIdentifier=$AGENCY_ORGNR/CN=Demo Registration Officer" \
			-out "$DEMO/officer/officer.csr"
		issue "$DEMO/officer/officer.csr" "$DEMO/officer/officer.crt.tmp" v3_officer
		mv "$DEMO/officer/officer.crt.tmp" "$DEMO/officer/officer.crt"
	fi
}

# The demo civil servant "Tjänste Person" and the card: enrolled as a registration officer would
# (issue 3): `efosctl ca init` made the CAs, the demo officer is bootstrapped, the registry gets
# the agency, the person, the affiliation and an in-person identity proofing, and
# `efosctl card enroll` initialises the card token, sets the holder's PIN, generates the auth and
# sign key pairs ON the card, sends their CSRs (proof of possession) to efosd, writes the issued
# certificates onto the card and confirms. Needs a configuration with node.roles ca and admin
# (and ca.profiles_file) and runs after the migrations; efosd is started for the enrollment when
# it is not running. Until the demo's configuration has the ca role, the card is made by hand
# (provision_card_handmade) as before.
DEMO_PNR=197001011233
provision_card() {
	if ! grep -Eq '^node\.roles *=.*\<ca\>' "$DEMO/efos.conf" 2>/dev/null; then
		provision_card_handmade
		return
	fi
	mkdir -p "$DEMO/card"
	[ -s "$DEMO/card/auth.crt" ] && [ -s "$DEMO/card/enrolled" ] && return 0
	local started=0 conf=$DEMO/efos.conf
	if ! efosd_pid >/dev/null; then start_bg; started=1; fi
	export EFOS_MTLS_URL=https://127.0.0.1:$MTLS_PORT EFOS_CA_PEM=$DEMO/ca/root.crt \
		EFOS_OFFICER_CERT=$DEMO/officer/officer.crt EFOS_OFFICER_KEY=$DEMO/officer/officer.key
	say "registering the demo officer, agency and civil servant; enrolling the card with efosctl card enroll"
	# Each step may have been done by an earlier, interrupted run: "exists already" is fine.
	demo_ctl() {
		local out
		out=$("$EFOSCTL" -c "$conf" "$@" 2>&1) && { printf '%s\n' "$out" >>"$DEMO/card/enroll.log"; return 0; }
		printf '%s\n' "$out" >>"$DEMO/card/enroll.log"
		printf '%s' "$out" | grep -Eq 'already|exists|refused once an active ca_admin'
	}
	: >"$DEMO/card/enroll.log"
	demo_ctl officer add --bootstrap --cert "$DEMO/officer/officer.crt" --name "Demo Registration Officer" &&
	demo_ctl org add --orgnr "$AGENCY_ORGNR" --name "$AGENCY_NAME" &&
	demo_ctl person add --pnr "$DEMO_PNR" --given-name "Tjänste" --surname "Person" --org "$AGENCY_ORGNR" &&
	demo_ctl affiliation add --pnr "$DEMO_PNR" --org "$AGENCY_ORGNR" --local-id tperson --title Handläggare &&
	demo_ctl proof record --pnr "$DEMO_PNR" --document-type passport --document-number DEMO0001 --checked ||
		{ cat "$DEMO/card/enroll.log" >&2; [ $started = 1 ] && stop_efosd; die "registering the demo civil servant failed"; }
	if ! "$EFOSCTL" card enroll --module "$MODULE" --token "$CARD_TOKEN" --init --erase --label "$CARD_TOKEN" \
		--pnr "$DEMO_PNR" --org "$AGENCY_ORGNR" --so-pin-file "$DEMO/secrets/card.so_pin" \
		--pin-file "$DEMO/secrets/card.pin" --out-dir "$DEMO/card" >>"$DEMO/card/enroll.log" 2>&1; then
		cat "$DEMO/card/enroll.log" >&2
		[ $started = 1 ] && stop_efosd
		die "efosctl card enroll failed"
	fi
	cp "$DEMO/card/auth.pem" "$DEMO/card/auth.crt"
	awk '$1 == "card_id" {print $2}' "$DEMO/card/enroll.log" >"$DEMO/card/enrolled"
	say "demo card enrolled: card $(cat "$DEMO/card/enrolled"), token $CARD_TOKEN"
	[ $started = 1 ] && stop_efosd
	return 0
}

# The demo card made by hand (before the CA of issue 3): a key generated ON the card, a CSR
# signed by the card (proof of possession), a certificate from the card CA written onto the card.
provision_card_handmade() {
	local pin=$DEMO/secrets/card.pin
	mkdir -p "$DEMO/card"
	keygen "$CARD_TOKEN" "$pin" auth 01 rsa:2048
	if [ ! -s "$DEMO/card/auth.crt" ]; then
		say "enrolling the demo card: CSR signed on the card, certificate from \"EFOS Demo Card CA\""
		csr_engine "$CARD_TOKEN" auth "$pin" \
			"/C=SE/O=$AGENCY_NAME/organizationIdentifier=$AGENCY_ORGNR/GN=Tjänste/SN=Person/serialNumber=197001011234/CN=Tjänste Person" \
			"$DEMO/card/auth.csr"
		issue "$DEMO/card/auth.csr" "$DEMO/card/auth.crt.tmp" v3_card_auth
		openssl x509 -in "$DEMO/card/auth.crt.tmp" -outform DER -out "$DEMO/card/auth.der"
		p11 "$CARD_TOKEN" "$pin" --delete-object --type cert --label auth >/dev/null 2>&1 || true
		p11 "$CARD_TOKEN" "$pin" --write-object "$DEMO/card/auth.der" --type cert --id 01 --label auth \
			>/dev/null 2>"$DEMO/card/write.err" || { cat "$DEMO/card/write.err" >&2; die "writing the certificate onto the card failed"; }
		rm -f "$DEMO/card/write.err"
		mv "$DEMO/card/auth.crt.tmp" "$DEMO/card/auth.crt"
	fi
}

# --- PostgreSQL and schema ---------------------------------------------------------------------

provision_db() {
	say "PostgreSQL: private cluster on 127.0.0.1:$PGPORT, durability ON (fsync on), data in $(pg_datadir_for "$DEMO")"
	pg_up "$DEMO" "$PGPORT" on || die "PostgreSQL failed to start (log: $(readlink -f "$DEMO/pg")/server.log)"
}

migrate() {
	[ -x "$EFOSCTL" ] || die "$EFOSCTL is missing: run make first"
	"$EFOSCTL" -c "$DEMO/efos.conf" db migrate >"$DEMO/migrate.log" 2>&1 \
		|| { cat "$DEMO/migrate.log" >&2; die "efosctl db migrate failed"; }
}

# --- configuration and env ---------------------------------------------------------------------

write_config() {
	mkdir -p "$DEMO/state"
	cat >"$DEMO/efos.conf.tmp" <<CONF
# efosd configuration of the demo (written by scripts/demo.sh; see docs/configuration.md)
node.name = demo
node.state_dir = $DEMO/state

http.listen = 127.0.0.1:$HTTP_PORT
http.mtls_listen = 127.0.0.1:$MTLS_PORT
http.public_url = https://127.0.0.1:$HTTP_PORT
http.mtls_public_url = https://127.0.0.1:$MTLS_PORT

tls.cert = $DEMO/tls/chain.pem
tls.key = pkcs11:token=$HSM_TOKEN;object=tls;type=private
tls.client_ca = $DEMO/ca/trust.pem

db.conninfo = host=127.0.0.1 port=$PGPORT dbname=efos user=efos
db.admin_conninfo = host=127.0.0.1 port=$PGPORT dbname=efos user=efos_owner
db.migrations_dir = $top/db

hsm.module = $MODULE
hsm.token = pkcs11:token=$HSM_TOKEN
hsm.pin_file = $DEMO/secrets/hsm.pin
hsm.probe_key = pkcs11:token=$HSM_TOKEN;object=probe;type=private

log.level = info
CONF
	mv "$DEMO/efos.conf.tmp" "$DEMO/efos.conf"
}

write_env() {
	cat >"$DEMO/env.tmp" <<ENV
# The demo installation (scripts/demo.sh). Source it: . var/demo/env
export EFOS_URL=https://127.0.0.1:$HTTP_PORT
export EFOS_MTLS_URL=https://127.0.0.1:$MTLS_PORT
export EFOS_CA_PEM=$DEMO/ca/root.crt
export EFOS_CA_BUNDLE=$DEMO/ca/trust.pem
export EFOS_CONF=$DEMO/efos.conf
export EFOS_PG='host=127.0.0.1 port=$PGPORT dbname=efos user=efos'
export EFOS_PG_SUPER='host=127.0.0.1 port=$PGPORT dbname=efos user=postgres'
export SOFTHSM2_CONF=$DEMO/hsm/softhsm2.conf
export EFOS_HSM_MODULE=$MODULE
export EFOS_HSM_TOKEN='pkcs11:token=$HSM_TOKEN'
export EFOS_HSM_PIN_FILE=$DEMO/secrets/hsm.pin
export EFOS_OPENSSL_CONF=$DEMO/ca/openssl.cnf
export EFOS_CARD_MODULE=$MODULE
export EFOS_CARD_KEY_URI='pkcs11:token=$CARD_TOKEN;object=auth;type=private'
export EFOS_CARD_PIN=$(cat "$DEMO/secrets/card.pin")
export EFOS_CARD_CERT=$DEMO/card/auth.crt
export EFOS_OFFICER_CERT=$DEMO/officer/officer.crt
export EFOS_OFFICER_KEY=$DEMO/officer/officer.key
export EFOS_AGENCY_NAME='$AGENCY_NAME'
export EFOS_AGENCY_ORGNR=$AGENCY_ORGNR
export EFOS_CIVIL_SERVANT='Tjänste Person'
ENV
	chmod 0600 "$DEMO/env.tmp"
	mv "$DEMO/env.tmp" "$DEMO/env"
}

provision() {
	[ "$(id -u)" -eq 0 ] || die "run as root (PostgreSQL is run as the unprivileged account $PG_RUNAS)"
	[ -x "$EFOSD" ] && [ -x "$EFOSCTL" ] || die "$EFOSD or $EFOSCTL is missing: run make first"
	mkdir -p "$DEMO"; chmod 0755 "$DEMO"
	[ -s "$DEMO/env" ] && say "reusing $DEMO"
	provision_secrets
	provision_tokens
	OSSL_CONF=$(openssl_conf)
	provision_demo_ca
	provision_tls
	provision_officer
	write_config
	provision_db
	migrate
	provision_card
	write_env
}

# --- efosd -------------------------------------------------------------------------------------

efosd_pid() {
	local pid
	[ -s "$DEMO/efosd.pid" ] || return 1
	pid=$(cat "$DEMO/efosd.pid")
	kill -0 "$pid" 2>/dev/null || return 1
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
	cat <<TXT

EFOS demo
  agency:          $AGENCY_NAME (orgnr $AGENCY_ORGNR)
  civil servant:   Tjänste Person, card = SoftHSM2 token "$CARD_TOKEN" (PIN in $DEMO/secrets/card.pin)
  officer:         $DEMO/officer/officer.crt + officer.key
  HSM:             SoftHSM2 token "$HSM_TOKEN" ($DEMO/hsm/softhsm2.conf)
  PostgreSQL:      127.0.0.1:$PGPORT (durability on), log $(readlink -f "$DEMO/pg")/server.log
  configuration:   $DEMO/efos.conf        everything as shell variables: $DEMO/env

Try, in another shell:
  . $DEMO/env
  curl --cacert \$EFOS_CA_PEM \$EFOS_URL/healthz
  curl --cacert \$EFOS_CA_PEM \$EFOS_URL/metrics
  curl --engine pkcs11 --key-type ENG --key "\$EFOS_CARD_KEY_URI;pin-value=\$EFOS_CARD_PIN" \\
       --cert \$EFOS_CARD_CERT --cacert \$EFOS_CA_PEM \$EFOS_MTLS_URL/healthz

TXT
}

start_bg() {
	local pid
	if pid=$(efosd_pid); then say "efosd already running (pid $pid)"; return 0; fi
	ports_free
	: >"$DEMO/efosd.log"
	SOFTHSM2_CONF=$DEMO/hsm/softhsm2.conf setsid "$EFOSD" -c "$DEMO/efos.conf" \
		</dev/null >>"$DEMO/efosd.log" 2>&1 &
	pid=$!
	echo "$pid" >"$DEMO/efosd.pid"
	local deadline=$((SECONDS + ${EFOS_DEMO_START_TIMEOUT:-60})) code=000
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
	if pid=$(efosd_pid); then die "efosd already runs in the background (pid $pid): make demo-stop first"; fi
	ports_free
	print_try
	echo "Starting efosd in the foreground (Ctrl-C stops it; PostgreSQL is stopped with it)."
	echo
	SOFTHSM2_CONF=$DEMO/hsm/softhsm2.conf "$EFOSD" -c "$DEMO/efos.conf" &
	pid=$!
	trap 'kill -TERM $pid 2>/dev/null || true' INT TERM
	rc=0
	wait "$pid" || rc=$?
	# wait returns early when a trapped signal arrives: wait for efosd itself to finish
	while kill -0 "$pid" 2>/dev/null; do wait "$pid" || rc=$?; done
	trap - INT TERM
	pg_down "$DEMO"
	exit "$rc"
}

cmd=${1:-run}
case $cmd in
run)   provision; run_fg;;
start) provision; start_bg; say "environment: . $DEMO/env";;
stop)  stop_efosd; pg_down "$DEMO"; say "PostgreSQL stopped";;
clean) stop_efosd; pg_destroy "$DEMO"; rm -rf "$DEMO"; say "removed $DEMO";;
env)   [ -s "$DEMO/env" ] || die "no demo yet: make demo-start"; cat "$DEMO/env";;
*) echo "usage: $0 run|start|stop|clean|env" >&2; exit 2;;
esac
