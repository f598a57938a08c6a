# Shared helpers of the benchmark rows (bench/*.sh, run by scripts/run-bench.sh). Source it.
#
#   bench_env_up       one efosd for all rows (roles ca idp admin metadata signer), set up on first
#                      use and reused by the later rows (scripts/run-bench.sh stops it): the EFOS
#                      CAs, an RSA-2048 IdP key in the HSM, a registered SP that asks for
#                      encrypted assertions (AES-256-GCM, RSA-OAEP), an enrolled card, an SSO
#                      session for that card (BENCH_SSO_COOKIE) and the notice remembered for the SP.
#   bench_seconds      EFOS_BENCH_SECONDS (default 30): the length of each load row
#   bench_load ARGS    build/bench/loadgen with the bench's CA; prints its result line (BENCH_LOAD_SECONDS
#                      overrides the duration; bench_short_seconds is the one of the non-login rows)
#   bench_field LINE KEY   a key=value field of a loadgen line
#   bench_rss PID      resident set size in MB
#   bench_authnreqs N FILE   N fresh signed AuthnRequests for the bench SP
#   bench_allocs       efosd's allocations so far (malloc, calloc, realloc: bench/tools/alloc-count.c)
#
# Reuses the test helpers (tests/integration/lib.sh, lib-creds.sh, tests/peers/lib-peers.sh) on
# the benchmark environment (EFOS_BENCH_ENV), so the set-up is the one the interop tests check.
export EFOS_TEST_ENV=${EFOS_BENCH_ENV:?run through scripts/run-bench.sh (make bench)}
. "$EFOS_TOP/tests/integration/lib.sh"
. "$EFOS_TOP/tests/integration/lib-creds.sh"
. "$EFOS_TOP/tests/peers/lib-peers.sh"
set +e
# efosd reaches the bench's PostgreSQL over its Unix socket, as a node installed beside its
# database would (docs/operations.md): a loopback TCP connection costs both processes the TCP
# stack on each of a login's round trips
BENCH_PG_SOCKET_DIR=$(readlink -f "$EFOS_TEST_DIR/pg" 2>/dev/null)
if [ -S "$BENCH_PG_SOCKET_DIR/.s.PGSQL.$EFOS_TEST_PGPORT" ]; then
	EFOS_TEST_PG="host=$BENCH_PG_SOCKET_DIR port=$EFOS_TEST_PGPORT dbname=efos user=efos"
fi
BENCH_STATE=$EFOS_TEST_DIR/bench-efosd
LOADGEN=$EFOS_BUILD/bench/loadgen

bench_seconds() { printf '%s' "${EFOS_BENCH_SECONDS:-30}"; }
bench_warmup() { awk -v s="$(bench_seconds)" 'BEGIN { w = s / 10; if (w > 3) w = 3; if (w < 0.5) w = 0.5; print w }'; }
bench_field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }
bench_rss() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null; }
bench_hwm() { awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null; }
# rows that are not logins (signing, OCSP) run EFOS_BENCH_SHORT_SECONDS (default: 10, or less
# when EFOS_BENCH_SECONDS is less) so the whole `make bench` stays under 15 minutes
bench_short_seconds() { awk -v s="$(bench_seconds)" -v o="${EFOS_BENCH_SHORT_SECONDS:-}" 'BEGIN { if (o != "") print o; else print (s < 10 ? s : 10) }'; }
bench_load() { "$LOADGEN" --cacert "$T_TLS/ca.crt" --warmup "$(bench_warmup)" --duration "${BENCH_LOAD_SECONDS:-$(bench_seconds)}" "$@"; }

bench_authnreqs() {
	python3 "$EFOS_TOP/bench/tools/mk-authnreqs.py" "$T_URL/idp/sso/redirect" "$BENCH_SP_ID" "$BENCH_SP_ACS" \
		--key "$BENCH_STATE/sp.key" -n "$1" >"$2"
}

# The seal API and the TSA on the same efosd (role signer): an RSA-2048 seal key "rsa" of the
# demo organisation, an API client bound to it (file key), an RSA-2048 TSA key in the HSM; then
# efosd restarts with the role.
bench_signer_setup() {
	local org=${CREDS_DEMO_ORGNR:-2021000001} tsa_uri
	tsa_uri=$("$EFOSCTL" -c "$T_CONF" hsm keygen --label "bench-tsa-$$" --type rsa:2048) || return 1
	creds_issue tsa "$T/tsa.pem" --key-uri "$tsa_uri" --cn "EFOS Bench TSA" --o EFOS || return 1
	cat "$T/tsa.pem" "$CREDS_SIGN_PEM" "$CREDS_ROOT_PEM" >"$T/tsa-chain.pem" 2>/dev/null ||
		cat "$T/tsa.pem" "$CREDS_ROOT_PEM" >"$T/tsa-chain.pem"
	printf 'signer.tsa_key = %s\nsigner.tsa_cert = %s\nsigner.tsa_policy = 1.2.3.4.5\n' "$tsa_uri" "$T/tsa-chain.pem" >>"$T_CONF"
	"$EFOSCTL" -c "$T_CONF" seal key add --org "$org" --name rsa --type rsa:2048 --out "$T/seal-rsa.pem" || return 1
	bench_fedsign_setup || return 1
	creds_csr "$T/api.key" "$T/api.csr" "/CN=bench-api" &&
		creds_issue api-client "$T/api.pem" --csr "$T/api.csr" --cn bench-api --o Demo-myndigheten --org-id "$org" --c SE &&
		"$EFOSCTL" -c "$T_CONF" seal client add --cert "$T/api.pem" --org "$org" --keys rsa --formats cades,xades,pades || return 1
	efosd_stop
	# production defaults, not the tests' settings: db.pool_size 8 (tests: 4), hsm.probe_interval
	# 2 s (tests: 1), idp.metadata_org_poll 60 s (tests: 1)
	sed -i -e 's/^node\.roles = .*/node.roles = ca idp admin metadata signer/' \
		-e '/^db\.pool_size = /d' -e '/^hsm\.probe_interval = /d' -e '/^idp\.metadata_org_poll = /d' \
		-e '/^idp\.max_request_age = /d' -e '/^signer\.max_request_age = /d' "$T_CONF"
	# the footprint row signs its 100,000 AuthnRequests before the timed part; at a few hundred
	# logins/s the last ones would be older than the default 180 s and refused as expired (the
	# same for the SignRequests of the federated-signing row at a long EFOS_BENCH_SHORT_SECONDS)
	printf 'idp.max_request_age = 3600\nsigner.max_request_age = 3600\n' >>"$T_CONF"
	# allocations are counted by a preloaded shim (bench/tools/alloc-count.c: one relaxed atomic
	# add per malloc) unless EFOS_BENCH_COUNT_ALLOCS=0
	if [ "${EFOS_BENCH_COUNT_ALLOCS:-1}" = 1 ] &&
	   ${CC:-cc} -shared -fPIC -O2 -o "$T/alloc-count.so" "$EFOS_TOP/bench/tools/alloc-count.c"; then
		export LD_PRELOAD=$T/alloc-count.so EFOS_ALLOC_COUNT_FILE=$T/alloc-count.bin
		efosd_start "$T_CONF"
		local rc=$?
		unset LD_PRELOAD EFOS_ALLOC_COUNT_FILE
		return $rc
	fi
	efosd_start "$T_CONF"
}

# The federated signing service (bench/4-signing.sh): its RSA-2048 signing and encryption keys in
# the HSM with saml-signing certificates (as scripts/demo.sh and t_sign_fed.sh make them), and a
# requester, an agency web app with its own RSA-2048 key, registered as an SP of the IdP's
# metadata (idp.sp_metadata_files): its ACS is the return URL of its SignRequests. Nobody serves
# that URL; the row's browser stops at the page that would post the SignResponse there.
bench_fedsign_setup() {
	local n uri
	for n in sig-sign sig-enc; do
		uri=$("$EFOSCTL" -c "$T_CONF" hsm keygen --label "bench-$n-$$" --type rsa:2048) || return 1
		"$EFOSCTL" -c "$T_CONF" ca issue --profile saml-signing --key-uri "$uri" --o EFOS --c SE \
			--cn "EFOS Bench signing service ($n)" --out "$T/$n.pem" || return 1
		printf '%s' "$uri" >"$T/$n.uri"
	done
	printf 'signer.signing_key = %s\nsigner.signing_cert = %s\nsigner.encryption_key = %s\nsigner.encryption_cert = %s\n' \
		"$(cat "$T/sig-sign.uri")" "$T/sig-sign.pem" "$(cat "$T/sig-enc.uri")" "$T/sig-enc.pem" >>"$T_CONF"
	BENCH_RQ_ID=https://app.bench.example.se/app
	BENCH_RQ_RETURN=https://app.bench.example.se/app/sign-return
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/rq.key" -out "$T/rq.crt" -days 30 \
		-subj "/O=EFOS bench/CN=Bench requester" 2>/dev/null || return 1
	requester_metadata "$T/requester-md.xml" "$BENCH_RQ_ID" "$BENCH_RQ_RETURN" "$T/rq.crt"
	grep -q '^idp\.sp_metadata_files = ' "$T_CONF" || { echo "bench_fedsign_setup: no idp.sp_metadata_files in $T_CONF" >&2; return 1; }
	sed -i "s|^idp\.sp_metadata_files = .*|& $T/requester-md.xml|" "$T_CONF"
}

# bench_allocs: the allocation count of efosd so far (empty when not counted)
bench_allocs() { [ -s "$T/alloc-count.bin" ] && od -An -tu8 "$T/alloc-count.bin" | tr -d ' '; }

bench_efosd_alive() { [ -s "$BENCH_STATE/env" ] && kill -0 "$(cat "$BENCH_STATE/efosd.pid" 2>/dev/null)" 2>/dev/null; }

bench_env_up() {
	if bench_efosd_alive; then
		. "$BENCH_STATE/env"
		T=$BENCH_STATE; T_LOG=$T/efosd.log; t_tls
		return 0
	fi
	T_NAME=bench
	T=$BENCH_STATE
	rm -rf "$T"; mkdir -p "$T"; chmod 0755 "$T"
	T_LOG=$T/efosd.log
	t_tls && t_probe_key || return 1
	# the SP: its own RSA-2048 key (signs the AuthnRequests, receives the encrypted assertions).
	# WantAssertionsSigned="false": the load shape of issue 6 is the Response signed and the
	# assertion encrypted, one RSA signature per login (the SimpleSAMLphp peer does the same)
	BENCH_SP_ID=https://sp.bench.example.se/sp
	BENCH_SP_ACS=https://sp.bench.example.se/acs
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/sp.key" -out "$T/sp.crt" -days 30 \
		-subj "/CN=bench SP" 2>/dev/null || return 1
	local b64
	b64=$(sed '/-----/d' "$T/sp.crt" | tr -d '\n')
	cat >"$T/sp-base.xml" <<-XML
	<?xml version="1.0" encoding="UTF-8"?>
	<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="$BENCH_SP_ID">
	<md:SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
	<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>$b64</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
	<md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>$b64</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
	<md:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"/>
	<md:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/>
	</md:KeyDescriptor>
	<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>
	<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="$BENCH_SP_ACS" index="0"/>
	</md:SPSSODescriptor>
	</md:EntityDescriptor>
	XML
	peers_sp_metadata "$T/sp-base.xml" "$T/sp-metadata.xml" "Mättjänsten" "The benchmark service" \
		--ec "$EC_LOA4_PNR" --ec "$EC_LOA4_ORGID" --ec "$EC_CONTRACT" || return 1
	peers_efosd_setup "$T/sp-metadata.xml" >"$T/setup.log" 2>&1 || { cat "$T/setup.log" >&2; return 1; }
	bench_signer_setup >>"$T/setup.log" 2>&1 || { tail -20 "$T/setup.log" >&2; return 1; }
	sleep 2
	bench_rss "$T_PID" >"$T/rss-idle"

	# one card login with the notice remembered: the SSO session the login rows reuse
	b_jar setup
	b_walk "$(python3 "$PEERS_BIN/mk-authnreq.py" "$T_URL/idp/sso/redirect" "$BENCH_SP_ID" "$BENCH_SP_ACS" --key "$T/sp.key")"
	if [ "$(b_form_action)" = /idp/login/consent ]; then
		b_post "$(b_origin "$B_URL")/idp/login/consent" --data-urlencode "tx=$(b_form_field tx)" \
			--data-urlencode "csrf=$(b_form_field csrf)" --data-urlencode lang=en \
			--data-urlencode action=continue --data-urlencode remember=1
	fi
	if [ -z "$(b_form_field SAMLResponse)" ]; then
		echo "bench_env_up: the set-up login did not end in a SAML Response ($B_CODE): $(b_text | head -c 300)" >&2
		return 1
	fi
	local cookie
	cookie=$(awk -v n=efos_idp_sso '$6 == n { print $6 "=" $7 }' "$B_JAR" | tail -1)
	[ -n "$cookie" ] || { echo "bench_env_up: no SSO cookie after the card login" >&2; return 1; }
	BENCH_SSO_COOKIE=$cookie
	BENCH_CARD_KEY_URI="pkcs11:token=$CARD;object=auth;type=private"
	local v
	for v in T_URL T_MTLS_URL T_CONF T_PID T_DBNAME T_PG T_PG_SUPER BENCH_SP_ID BENCH_SP_ACS CARD \
		CREDS_CARD_AUTH_PEM CREDS_CARD_SIGN_PEM CREDS_ROOT_PEM CREDS_CARD_PEM CREDS_CARD_ID \
		CREDS_DEMO_ORGNR BENCH_SSO_COOKIE BENCH_CARD_KEY_URI BENCH_RQ_ID BENCH_RQ_RETURN; do
		printf '%s=%q\n' "$v" "${!v:-}"
	done >"$T/env.tmp" && mv "$T/env.tmp" "$T/env"
	. "$T/env"
}
