# Credential fixtures for the integration tests of issue 3. Source it after lib.sh:
#
#   . "$(dirname "$0")/lib.sh"; . "$(dirname "$0")/lib-creds.sh"
#   t_init my_test
#   creds_conf "$T/efos.conf" [key=value...]   # write_conf + ca.profiles_file (+ your overrides)
#   creds_ca_init [KEY_TYPE]                   # migrate + `efosctl ca init` against $T_CONF
#   efosd_start "$T_CONF"
#
# Stable names (others code against them):
#   creds_conf FILE [key=value...]  write_conf FILE ca.profiles_file=$EFOS_TOP/etc/profiles.conf ...
#   creds_ca_init [KEY_TYPE]        runs `efosctl db migrate` and `efosctl ca init --key-type
#                                   KEY_TYPE` (default ec:p256: fast in SoftHSM) on $T_CONF; exports
#       CREDS_DIR          $T/creds: where the files below are
#       CREDS_ROOT_PEM     the root CA certificate (the trust anchor: openssl verify -CAfile)
#       CREDS_CARD_PEM     the card issuing CA certificate
#       CREDS_SIGN_PEM     the signing-service issuing CA certificate
#       CREDS_CHAIN_PEM    card CA + root (PEM bundle: -untrusted / curl --cacert chains)
#       CREDS_ALL_PEM      root + card + sign
#       CREDS_CA_LOG       the output of ca init
#     and removes the keys it generated from the test token at exit (t_on_exit).
#   creds_issue PROFILE OUT [efosctl ca issue options...]
#                                   `efosctl ca issue --profile PROFILE --out OUT ...` on $T_CONF
#   creds_csr KEYFILE CSRFILE SUBJ [ALG]   a key (EC P-256 default, or "rsa:2048", "rsa:1024",
#                                   "ec:P-224"...) and a CSR signed by it, with openssl
#   creds_serial CERTFILE           the certificate's serial in lowercase hex, as efosctl prints it
#   creds_hsm_delete_uri URI        deletes the private and public key of a pkcs11: URI (id=) from
#                                   the test token
#
# Other engineers append their own creds_* functions below the marked line.

CREDS_PROFILES=${CREDS_PROFILES:-$EFOS_TOP/etc/profiles.conf}

creds_conf() {
	local file=$1; shift
	write_conf "$file" "ca.profiles_file=$CREDS_PROFILES" "$@"
}

# The id= attribute of a pkcs11: URI as plain hex.
creds__uri_id_hex() {
	printf '%s' "$1" | tr ';' '\n' | sed -n 's/^id=//p' | tr -d '%' | tr 'A-F' 'a-f'
}

creds_hsm_delete_uri() {
	local id
	id=$(creds__uri_id_hex "$1")
	[ -n "$id" ] || return 0
	local t
	for t in privkey pubkey; do
		EFOS_P11_PIN=$EFOS_TEST_HSM_PIN pkcs11-tool --module "$EFOS_TEST_HSM_MODULE" --token-label efos-hsm \
			--login --pin env:EFOS_P11_PIN --delete-object --type $t --id "$id" >/dev/null 2>&1 || true
	done
}

# Removes every CA and OCSP signer key named in the test database's cas table.
creds__cleanup_keys() {
	local uri
	for uri in $(psql_as "$T_PG" -c "SELECT key_uri FROM cas UNION ALL SELECT ocsp_key_uri FROM cas WHERE ocsp_key_uri IS NOT NULL" 2>/dev/null); do
		creds_hsm_delete_uri "$uri"
	done
}

creds_ca_init() {
	local kt=${1:-ec:p256}
	[ -n "${T_CONF:-}" ] || { echo "# creds_ca_init: call creds_conf first"; return 1; }
	CREDS_DIR=$T/creds
	mkdir -p "$CREDS_DIR"
	CREDS_CA_LOG=$CREDS_DIR/ca-init.log
	migrate "$T_CONF" || return 1
	t_on_exit creds__cleanup_keys
	if ! "$EFOSCTL" -c "$T_CONF" ca init --key-type "$kt" --root-name "EFOS Test Root CA $T_NAME" \
		>"$CREDS_CA_LOG" 2>&1; then
		echo "# creds_ca_init: efosctl ca init failed:"; sed 's/^/#   /' "$CREDS_CA_LOG"
		return 1
	fi
	CREDS_ROOT_PEM=$CREDS_DIR/root.pem
	CREDS_CARD_PEM=$CREDS_DIR/card.pem
	CREDS_SIGN_PEM=$CREDS_DIR/sign.pem
	CREDS_CHAIN_PEM=$CREDS_DIR/card-chain.pem
	CREDS_ALL_PEM=$CREDS_DIR/all.pem
	rm -f "$CREDS_ROOT_PEM" "$CREDS_CARD_PEM" "$CREDS_SIGN_PEM" "$CREDS_CHAIN_PEM" "$CREDS_ALL_PEM"
	local n
	for n in root card sign; do
		"$EFOSCTL" -c "$T_CONF" ca export --name $n --out "$CREDS_DIR/$n.pem" 2>>"$CREDS_CA_LOG" ||
			{ echo "# creds_ca_init: ca export --name $n failed"; return 1; }
	done
	"$EFOSCTL" -c "$T_CONF" ca export --name card --chain --out "$CREDS_CHAIN_PEM" 2>>"$CREDS_CA_LOG" || return 1
	cat "$CREDS_ROOT_PEM" "$CREDS_CARD_PEM" "$CREDS_SIGN_PEM" >"$CREDS_ALL_PEM"
	export CREDS_DIR CREDS_ROOT_PEM CREDS_CARD_PEM CREDS_SIGN_PEM CREDS_CHAIN_PEM CREDS_ALL_PEM CREDS_CA_LOG
}

creds_issue() {
	local profile=$1 out=$2; shift 2
	"$EFOSCTL" -c "$T_CONF" ca issue --profile "$profile" --out "$out" "$@"
}

creds_csr() {
	local key=$1 csr=$2 subj=$3 alg=${4:-ec:P-256}
	case $alg in
	rsa:*) openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:${alg#rsa:}" -out "$key" 2>/dev/null ;;
	ec:*) openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:${alg#ec:}" -out "$key" 2>/dev/null ;;
	*) echo "# creds_csr: unknown algorithm $alg"; return 1 ;;
	esac || return 1
	openssl req -new -key "$key" -subj "$subj" -out "$csr" 2>/dev/null
}

creds_serial() {
	openssl x509 -in "$1" -noout -serial | sed 's/^serial=//' | tr 'A-F' 'a-f' | sed 's/^0*//'
}

# ---- functions of other areas below this line -------------------------------------------------

# ---- cards (D: enrollment and lifecycle) --------------------------------------------------------
#   creds_card_token LABEL          a fresh SoftHSM token standing in for a card (initialised with
#                                   CREDS_CARD_SO_PIN, no objects), deleted at exit
#   creds_enroll_card LABEL PNR ORGNR [efosctl card enroll options...]
#                                   `efosctl card enroll` as the officer (EFOS_MTLS_URL, EFOS_CA_PEM,
#                                   EFOS_OFFICER_CERT, EFOS_OFFICER_KEY from creds_bootstrap_officer)
#                                   with the holder's PIN CREDS_CARD_PIN; exports
#       CREDS_CARD_ID, CREDS_CARD_TOKEN_SERIAL, CREDS_CARD_AUTH_SERIAL, CREDS_CARD_SIGN_SERIAL,
#       CREDS_CARD_AUTH_PEM, CREDS_CARD_SIGN_PEM (also on the card, labels auth/sign, CKA_ID 01/02),
#       CREDS_CARD_LOG (efosctl's output)
#   creds_card_key_uri LABEL [auth|sign]   the card key's URI for OpenSSL's pkcs11 engine, with
#                                   pin-value=CREDS_CARD_PIN (tests only)
#   creds_card_p11 LABEL ARGS...    pkcs11-tool on the card token, logged in with CREDS_CARD_PIN
#   creds_card_sql_officer NAME CERT ROLE ORGNR   an officer row for CERT with one role (SQL, for
#                                   tests that do not need the admin API)
#   creds_card_sql_person PNR GIVEN SURNAME ORGNR LOCAL_ID yes|no   a person affiliated with ORGNR,
#                                   proofed in person (yes) or not (no) (SQL)
#   creds_ocsp_status CERT          "good", "revoked REASON" or "unknown", asked of $T_URL/ocsp
#                                   (issuer CREDS_CARD_PEM; the response must verify to the root)
CREDS_CARD_SO_PIN=${CREDS_CARD_SO_PIN:-87654321}
CREDS_CARD_PIN=${CREDS_CARD_PIN:-246810}
export CREDS_CARD_SO_PIN CREDS_CARD_PIN

creds_card_token() {
	local label=$1
	softhsm2-util --delete-token --token "$label" >/dev/null 2>&1
	softhsm2-util --init-token --free --label "$label" --so-pin "$CREDS_CARD_SO_PIN" \
		--pin "$CREDS_CARD_PIN" >/dev/null 2>&1 || { echo "# creds_card_token: cannot create $label"; return 1; }
	t_on_exit "softhsm2-util --delete-token --token '$label' >/dev/null 2>&1"
}

creds_card_p11() {
	local label=$1; shift
	EFOS_P11_PIN=$CREDS_CARD_PIN pkcs11-tool --module "$EFOS_TEST_HSM_MODULE" --token-label "$label" \
		--login --pin env:EFOS_P11_PIN "$@"
}

creds_card_key_uri() {
	echo "pkcs11:token=$1;object=${2:-auth};type=private;pin-value=$CREDS_CARD_PIN"
}

# creds_card_openssl_conf FILE [MODULE]: an OpenSSL configuration (for OPENSSL_CONF) that loads
# the pkcs11 engine over MODULE (default: the test token module), so openssl and curl
# (--engine pkcs11 --key-type ENG) can sign with a card key named by creds_card_key_uri.
creds_card_openssl_conf() {
	cat >"$1" <<CNF
openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = /usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so
MODULE_PATH = ${2:-$EFOS_TEST_HSM_MODULE}
init = 0
CNF
}

creds_enroll_card() {
	local label=$1 pnr=$2 org=$3; shift 3
	local dir=${CREDS_DIR:-$T/creds}/card-$label
	rm -rf "$dir"; mkdir -p "$dir"
	CREDS_CARD_LOG=$dir/enroll.log
	EFOS_CARD_SO_PIN=$CREDS_CARD_SO_PIN EFOS_CARD_PIN=$CREDS_CARD_PIN "$EFOSCTL" card enroll \
		--module "$EFOS_TEST_HSM_MODULE" --token "$label" --pnr "$pnr" --org "$org" \
		--so-pin-env EFOS_CARD_SO_PIN --pin-env EFOS_CARD_PIN --out-dir "$dir" "$@" >"$CREDS_CARD_LOG" 2>&1
	local rc=$?
	[ $rc -eq 0 ] || return $rc
	CREDS_CARD_ID=$(awk '$1 == "card_id" {print $2}' "$CREDS_CARD_LOG")
	CREDS_CARD_TOKEN_SERIAL=$(awk '$1 == "token_serial" {print $2}' "$CREDS_CARD_LOG")
	CREDS_CARD_AUTH_SERIAL=$(awk '$1 == "auth_serial" {print $2}' "$CREDS_CARD_LOG")
	CREDS_CARD_SIGN_SERIAL=$(awk '$1 == "sign_serial" {print $2}' "$CREDS_CARD_LOG")
	CREDS_CARD_AUTH_PEM=$dir/auth.pem
	CREDS_CARD_SIGN_PEM=$dir/sign.pem
	export CREDS_CARD_ID CREDS_CARD_TOKEN_SERIAL CREDS_CARD_AUTH_SERIAL CREDS_CARD_SIGN_SERIAL \
		CREDS_CARD_AUTH_PEM CREDS_CARD_SIGN_PEM CREDS_CARD_LOG
}

creds_ocsp_status() {
	local out
	out=$(openssl ocsp -issuer "$CREDS_CARD_PEM" -cert "$1" -url "$T_URL/ocsp" -CAfile "$CREDS_CHAIN_PEM" \
		-verify_other "$CREDS_CARD_PEM" 2>&1) || { echo "error: $out"; return 1; }
	printf '%s\n' "$out" | grep -q 'Response verify OK' || { echo "error: $out"; return 1; }
	local line reason
	line=$(printf '%s\n' "$out" | grep -F -- "$1: " | head -1)
	case $line in
	*": good") echo good ;;
	*": revoked") reason=$(printf '%s\n' "$out" | sed -n 's/^[[:space:]]*Reason: //p' | head -1)
		echo "revoked ${reason:-unspecified}" ;;
	*": unknown") echo unknown ;;
	*) echo "error: $out"; return 1 ;;
	esac
}

# ---- registry (C: organisations, persons, affiliations, proofings, officers) --------------------
#   creds_client_ca                 tls.client_ca of $T_CONF := the test client CA + the EFOS CAs
#                                   (root, card, sign), so that officers' and cards' certificates
#                                   verify on the mTLS listener; restarts efosd when it runs.
#                                   (creds_bootstrap_officer calls it.)
#   creds_officer_cert NAME PREFIX [ORGNR]   PREFIX.key (EC P-256) and PREFIX.pem: an officer
#                                   certificate issued by the EFOS CA (`efosctl ca issue --profile
#                                   officer`), CN=NAME
#   creds_bootstrap_officer [NAME]  after creds_ca_init, before or after efosd_start: the first
#                                   officer, `efosctl officer add --bootstrap` (ca_admin and
#                                   registration_officer for every organisation); exports
#       EFOS_MTLS_URL ($T_MTLS_URL), EFOS_CA_PEM ($T_TLS/ca.crt: efosd's TLS certificate),
#       EFOS_OFFICER_CERT, EFOS_OFFICER_KEY (= CREDS_OFFICER_CERT, CREDS_OFFICER_KEY), CREDS_OFFICER_ID
#   creds_officer_env               re-exports EFOS_MTLS_URL from $T_MTLS_URL (efosd_start may move
#                                   ports) and the officer's EFOS_OFFICER_CERT/KEY
#   creds_demo_registry             with efosd running, through `efosctl` as that officer (what
#                                   exists already is kept):
#                                   organisation 2021000001 "Demo-myndigheten", person 195006262546
#                                   Valfrid Lindeman, affiliation vlindman@2021000001 (title
#                                   Handläggare), identity proofing (passport, checked); exports
#       CREDS_DEMO_ORGNR, CREDS_DEMO_ORG_NAME, CREDS_DEMO_PNR, CREDS_DEMO_GIVEN, CREDS_DEMO_SURNAME,
#       CREDS_DEMO_LOCAL_ID, CREDS_DEMO_AFFILIATION (vlindman@2021000001), CREDS_REG_LOG
CREDS_DEMO_ORGNR=2021000001
CREDS_DEMO_ORG_NAME=Demo-myndigheten
CREDS_DEMO_PNR=195006262546
CREDS_DEMO_GIVEN=Valfrid
CREDS_DEMO_SURNAME=Lindeman
CREDS_DEMO_LOCAL_ID=vlindman
CREDS_DEMO_AFFILIATION=$CREDS_DEMO_LOCAL_ID@$CREDS_DEMO_ORGNR
export CREDS_DEMO_ORGNR CREDS_DEMO_ORG_NAME CREDS_DEMO_PNR CREDS_DEMO_GIVEN CREDS_DEMO_SURNAME \
	CREDS_DEMO_LOCAL_ID CREDS_DEMO_AFFILIATION

creds_client_ca() {
	[ -n "${CREDS_ALL_PEM:-}" ] || { echo "# creds_client_ca: call creds_ca_init first"; return 1; }
	local bundle=$CREDS_DIR/client-ca.pem
	cat "$T_TLS/client-ca.crt" "$CREDS_ALL_PEM" >"$bundle.new" && mv "$bundle.new" "$bundle" || return 1
	if grep -q '^tls\.client_ca' "$T_CONF"; then
		grep -q "^tls\.client_ca = $bundle\$" "$T_CONF" && return 0
		sed -i "s|^tls\.client_ca = .*|tls.client_ca = $bundle|" "$T_CONF"
	else
		echo "tls.client_ca = $bundle" >>"$T_CONF"
	fi
	if efosd_alive; then
		efosd_stop >/dev/null 2>&1
		efosd_start "$T_CONF" || return 1
	fi
}

creds_officer_cert() {
	local name=$1 prefix=$2 org=${3:-$CREDS_DEMO_ORGNR}
	rm -f "$prefix.pem"
	creds_csr "$prefix.key" "$prefix.csr" "/CN=$name" || return 1
	creds_issue officer "$prefix.pem" --csr "$prefix.csr" --cn "$name" --o "$CREDS_DEMO_ORG_NAME" \
		--org-id "$org" --c SE >"$prefix.issue.log" 2>&1 ||
		{ echo "# creds_officer_cert: efosctl ca issue --profile officer failed:"; sed 's/^/#   /' "$prefix.issue.log"; return 1; }
	chmod 0600 "$prefix.key"
}

creds_officer_env() {
	EFOS_MTLS_URL=$T_MTLS_URL
	EFOS_CA_PEM=$T_TLS/ca.crt
	[ -n "${CREDS_OFFICER_CERT:-}" ] && EFOS_OFFICER_CERT=$CREDS_OFFICER_CERT && EFOS_OFFICER_KEY=$CREDS_OFFICER_KEY
	export EFOS_MTLS_URL EFOS_CA_PEM EFOS_OFFICER_CERT EFOS_OFFICER_KEY
}

creds_bootstrap_officer() {
	local name=${1:-Olle Officer}
	[ -n "${CREDS_DIR:-}" ] || { echo "# creds_bootstrap_officer: call creds_ca_init first"; return 1; }
	CREDS_REG_LOG=${CREDS_REG_LOG:-$CREDS_DIR/registry.log}
	creds_client_ca || return 1
	CREDS_OFFICER_KEY=$CREDS_DIR/officer.key
	CREDS_OFFICER_CERT=$CREDS_DIR/officer.pem
	creds_officer_cert "$name" "$CREDS_DIR/officer" || return 1
	if ! "$EFOSCTL" -c "$T_CONF" officer add --bootstrap --cert "$CREDS_OFFICER_CERT" --name "$name" \
		--role registration_officer >>"$CREDS_REG_LOG" 2>&1; then
		echo "# creds_bootstrap_officer: efosctl officer add --bootstrap failed:"; tail -5 "$CREDS_REG_LOG" | sed 's/^/#   /'
		return 1
	fi
	CREDS_OFFICER_ID=$(psql_as "$T_PG" -c "SELECT id FROM officers WHERE cert_sha256 = decode('$(openssl x509 -in "$CREDS_OFFICER_CERT" -outform DER | sha256sum | cut -d' ' -f1)', 'hex')")
	export CREDS_OFFICER_ID CREDS_OFFICER_KEY CREDS_OFFICER_CERT CREDS_REG_LOG
	creds_officer_env
}

creds_demo_registry() {
	creds_officer_env
	CREDS_REG_LOG=${CREDS_REG_LOG:-$CREDS_DIR/registry.log}
	local step
	for step in \
		"org add --orgnr $CREDS_DEMO_ORGNR --name $CREDS_DEMO_ORG_NAME" \
		"person add --pnr $CREDS_DEMO_PNR --given-name $CREDS_DEMO_GIVEN --surname $CREDS_DEMO_SURNAME" \
		"affiliation add --pnr $CREDS_DEMO_PNR --org $CREDS_DEMO_ORGNR --local-id $CREDS_DEMO_LOCAL_ID --title Handläggare" \
		"proof record --pnr $CREDS_DEMO_PNR --document-type passport --document-number AB1234567 --checked"; do
		local out
		# shellcheck disable=SC2086
		if ! out=$("$EFOSCTL" $step 2>&1); then
			# what is there already (an earlier call) is fine
			case $out in *"(HTTP 409)"*"registered already"*|*"already has an active affiliation"*) ;;
			*) printf '%s\n' "$out" >>"$CREDS_REG_LOG"
			   echo "# creds_demo_registry: efosctl $step failed:"; printf '%s\n' "$out" | tail -3 | sed 's/^/#   /'
			   return 1 ;;
			esac
		fi
		printf '%s\n' "$out" >>"$CREDS_REG_LOG"
	done
}

creds__card_sql() { psql_as "$T_PG_SUPER" -c "$1"; }

creds_card_sql_officer() {
	local sha subj id
	sha=$(openssl x509 -in "$2" -outform DER | sha256sum | cut -d' ' -f1)
	subj=$(openssl x509 -in "$2" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
	id=$(creds__card_sql "INSERT INTO officers (name, cert_sha256, cert_subject) VALUES ('$1', decode('$sha', 'hex'),
		'$subj') RETURNING id" | head -1) || return 1
	creds__card_sql "INSERT INTO officer_roles (officer_id, org_id, role) VALUES ($id,
		(SELECT id FROM organisations WHERE orgnr = '$4'), '$3')" >/dev/null
}

creds_card_sql_person() {
	creds__card_sql "INSERT INTO persons (pnr, given_name, surname, display_name) VALUES ('$1', '$2', '$3', '$2 $3')" >/dev/null &&
	creds__card_sql "INSERT INTO affiliations (person_id, org_id, local_id) VALUES ((SELECT id FROM persons WHERE pnr = '$1'),
		(SELECT id FROM organisations WHERE orgnr = '$4'), '$5')" >/dev/null || return 1
	[ "$6" = yes ] || return 0
	creds__card_sql "INSERT INTO identity_proofings (person_id, officer_id, document_type, document_number,
		document_checked, valid_until) VALUES ((SELECT id FROM persons WHERE pnr = '$1'), (SELECT min(id) FROM officers),
		'passport', 'P$RANDOM', true, now() + interval '30 days')" >/dev/null
}

# ---- seal API fixtures (t_seal.sh, t_validate.sh) ----------------------------------------------
#   creds_seal_tsa                  a TSA key in the HSM, its `tsa` certificate ($T/tsa.pem, chain
#                                   $T/tsa-chain.pem) and the signer.tsa_* lines in $T_CONF
#   creds_seal_keys ORGNR NAME:TYPE...  the organisation (Testmyndigheten) and its seal keys
#                                   (`efosctl seal key add`, certificate $T/seal-NAME.pem); the keys
#                                   are removed from the HSM at exit
#   creds_seal_client NAME ORGNR KEYS [FORMATS]  an api-client certificate ($T/NAME.pem, .key)
#                                   bound with `efosctl seal client add` (FORMATS default cades);
#                                   prints the efosctl output
#   creds_api_client_cert NAME ORGNR  only the api-client certificate
creds_seal_tsa() {
	local label=tsa-$T_NAME-$$
	CREDS_TSA_URI=$("$EFOSCTL" -c "$T_CONF" hsm keygen --label "$label" --type ec:p256 2>"$T/tsa-keygen.log")
	[ -n "$CREDS_TSA_URI" ] || { cat "$T/tsa-keygen.log"; return 1; }
	t_on_exit "creds_hsm_delete_uri '$CREDS_TSA_URI'"
	creds_issue tsa "$T/tsa.pem" --key-uri "$CREDS_TSA_URI" --cn "EFOS Test TSA" --o "EFOS" >"$T/tsa-issue.log" 2>&1 ||
		{ cat "$T/tsa-issue.log"; return 1; }
	cat "$T/tsa.pem" "$CREDS_SIGN_PEM" "$CREDS_ROOT_PEM" >"$T/tsa-chain.pem"
	{
		echo "signer.tsa_key = $CREDS_TSA_URI"
		echo "signer.tsa_cert = $T/tsa-chain.pem"
		echo "signer.tsa_policy = 1.2.3.4.5"
		echo "signer.tsa_accuracy = 500"
	} >>"$T_CONF"
}

creds__seal_keys_cleanup() {
	local uri
	for uri in $(psql_as "$T_PG" -c "SELECT key_uri FROM seal_keys" 2>/dev/null); do creds_hsm_delete_uri "$uri"; done
}

creds_seal_keys() {
	local orgnr=$1 spec name type; shift
	psql_super "INSERT INTO organisations (orgnr, name) VALUES ('$orgnr', 'Testmyndigheten')" >/dev/null || return 1
	t_on_exit creds__seal_keys_cleanup
	for spec in "$@"; do
		name=${spec%%:*}; type=${spec#*:}
		"$EFOSCTL" -c "$T_CONF" seal key add --org "$orgnr" --name "$name" --type "$type" --out "$T/seal-$name.pem" \
			>"$T/seal-key-$name.log" 2>&1 || { cat "$T/seal-key-$name.log"; return 1; }
	done
}

creds_api_client_cert() {
	creds_csr "$T/$1.key" "$T/$1.csr" "/CN=$1" || return 1
	creds_issue api-client "$T/$1.pem" --csr "$T/$1.csr" --cn "$1" --o Testmyndigheten --org-id "$2" --c SE \
		>"$T/$1.issue.log" 2>&1 || { cat "$T/$1.issue.log"; return 1; }
}

creds_seal_client() {
	creds_api_client_cert "$1" "$2" || return 1
	"$EFOSCTL" -c "$T_CONF" seal client add --cert "$T/$1.pem" --org "$2" --keys "$3" --formats "${4:-cades}" 2>&1
}
