# Helpers for the integration tests (tests/integration/t_*.sh). Source it, then call t_init.
#
#   t_init NAME           scratch dir $T (var/test/NAME), TAP counters, cleanup on exit
#   ok NAME / fail NAME [DETAIL]   TAP lines; fail also prints the efosd log tail
#   check NAME CMD...     ok when CMD succeeds, else fail
#   t_done                prints the summary; exit status = number of failures > 0
#   free_port             a random free TCP port on 127.0.0.1
#   t_db NAME             a fresh, empty database efos_NAME; sets T_DBNAME
#   write_conf FILE [key=value...]   an efosd config for the test env (free ports, file TLS key,
#                         the test HSM token, T_DBNAME); key=value overrides/adds, key= removes
#   migrate CONF          efosctl db migrate
#   efosd_start CONF      background efosd (T_PID, T_LOG), waits for /healthz 200
#   efosd_stop            SIGTERM, waits; T_EXIT = its exit status
#   http_code URL [curl args...]   the status code (000 when no answer)
#   wait_for SECONDS CMD...        polls CMD every 0.2 s until it succeeds
#   psql_super SQL / psql_as CONNINFO SQL   run SQL in the test database
#
# The environment (PostgreSQL, SoftHSM token) comes from var/test/env (scripts/testenv.sh up),
# started here when a test runs on its own.

set -uo pipefail
EFOS_TOP=${EFOS_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
EFOS_BIN=${EFOS_BIN:-$EFOS_TOP/bin}
EFOSD=$EFOS_BIN/efosd
EFOSCTL=$EFOS_BIN/efosctl
. "$EFOS_TOP/scripts/lib-env.sh"

T_ENVFILE=${EFOS_TEST_ENV:-$EFOS_TOP/var/test/env}
if [ ! -s "$T_ENVFILE" ]; then
	"$EFOS_TOP/scripts/testenv.sh" up >/dev/null || { echo "not ok - test environment failed to start"; exit 1; }
fi
. "$T_ENVFILE"

# Timeouts are longer under the sanitizers (EFOS_BIN=.../bin-san).
case $EFOS_BIN in *-san) T_SLOW=3;; *) T_SLOW=1;; esac

T_PASS=0
T_FAIL=0
T_PID=
T_LOG=
T_EXIT=
T_PORTS=" "
T_CLEANUPS=()

t_init() {
	T_NAME=$1
	T=$EFOS_TEST_DIR/$T_NAME
	rm -rf "$T"; mkdir -p "$T"
	chmod 0755 "$T"
	T_LOG=$T/efosd.log
	trap t_cleanup EXIT
	trap 'exit 130' INT TERM
	t_tls
	t_probe_key
	echo "# $T_NAME: scratch dir $T"
}

# t_on_exit CMD: run CMD (a string) at exit, last registered first.
t_on_exit() { T_CLEANUPS+=("$1"); }

t_cleanup() {
	local i
	for ((i = ${#T_CLEANUPS[@]} - 1; i >= 0; i--)); do eval "${T_CLEANUPS[$i]}" || true; done
	[ -n "$T_PID" ] && efosd_stop >/dev/null 2>&1
	return 0
}

ok() { T_PASS=$((T_PASS + 1)); echo "ok - $1"; }

fail() {
	T_FAIL=$((T_FAIL + 1))
	echo "not ok - $1"
	[ $# -gt 1 ] && printf '%s\n' "${@:2}" | sed 's/^/#   /'
	dump_log
	return 0
}

check() {
	local name=$1; shift
	if "$@"; then ok "$name"; else fail "$name" "command: $*"; fi
}

# expect_eq NAME GOT WANT
expect_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else fail "$1" "got: $2" "want: $3"; fi
}

# expect_match NAME TEXT ERE
expect_match() {
	# a here-string, not a pipe: with pipefail, grep -q exiting at the first match would make
	# printf die of SIGPIPE on large output and turn a match into a failure
	if grep -qE -- "$3" <<<"$2"; then ok "$1"; else fail "$1" "output does not match /$3/:" "$2"; fi
}

dump_log() {
	local f=${1:-$T_LOG}
	[ -n "$f" ] && [ -s "$f" ] || return 0
	echo "#   --- last lines of $f:"
	tail -n "${T_LOG_LINES:-25}" "$f" | sed 's/^/#   | /'
}

t_done() {
	echo "# $T_NAME: $T_PASS passed, $T_FAIL failed"
	[ "$T_FAIL" -eq 0 ]
	exit $?
}

wait_for() {
	local secs=$1; shift
	local deadline=$((SECONDS + secs * T_SLOW))
	while :; do
		"$@" && return 0
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.2
	done
}

# Ports come from below the kernel's ephemeral range (where outgoing connections take theirs),
# and must have no socket at all on them.
T_PORT_LO=20000
T_PORT_HI=$(awk '{print $1 - 1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32767)
[ "$T_PORT_HI" -gt $((T_PORT_LO + 1000)) ] 2>/dev/null || { T_PORT_LO=40000; T_PORT_HI=60999; }
free_port() {
	local p i
	for i in $(seq 1 200); do
		p=$((T_PORT_LO + RANDOM % (T_PORT_HI - T_PORT_LO + 1)))
		case $T_PORTS in *" $p "*) continue;; esac
		[ "$p" = "${EFOS_TEST_PGPORT:-}" ] && continue
		if ! ss -Htan "sport = :$p" 2>/dev/null | grep -q .; then
			T_PORTS="$T_PORTS$p "
			echo "$p"; return 0
		fi
	done
	echo "free_port: no free port found" >&2
	return 1
}

# changed_copy FILE OUT: a copy of FILE with its last byte changed (never equal to FILE, whatever its bytes)
changed_copy() {
	local n; n=$(wc -c <"$1")
	head -c $((n - 1)) "$1" >"$2"
	printf "\\$(printf '%03o' $((($(tail -c1 "$1" | od -An -tu1) + 1) % 256)))" >>"$2"
}

# --- TLS material, made once per test environment (files: fast) --------------------------------
# $EFOS_TEST_DIR/tls: ca.crt/.key (server CA), server.crt/.key (127.0.0.1, localhost),
# client-ca.crt/.key, client.crt/.key (clientAuth).
t_tls() {
	T_TLS=$EFOS_TEST_DIR/tls
	[ -s "$T_TLS/client.crt" ] && return 0
	local d=$T_TLS.tmp.$$
	rm -rf "$d"; mkdir -p "$d"
	(
		set -e; cd "$d"; umask 077
		cat >ext.cnf <<'CNF'
[ca]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
[client]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
CNF
		for n in ca server client-ca client; do
			openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $n.key 2>/dev/null
		done
		openssl req -new -x509 -key ca.key -subj "/O=EFOS test/CN=EFOS Test Server CA" -days 3650 \
			-addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign -out ca.crt
		openssl req -new -x509 -key client-ca.key -subj "/O=EFOS test/CN=EFOS Test Client CA" -days 3650 \
			-addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign -out client-ca.crt
		openssl req -new -key server.key -subj "/O=EFOS test/CN=localhost" -out server.csr
		openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial 0x$(openssl rand -hex 12) \
			-days 3650 -extfile ext.cnf -extensions server -out server.crt 2>/dev/null
		openssl req -new -key client.key -subj "/O=EFOS test/CN=Test Client" -out client.csr
		openssl x509 -req -in client.csr -CA client-ca.crt -CAkey client-ca.key -set_serial 0x$(openssl rand -hex 12) \
			-days 3650 -extfile ext.cnf -extensions client -out client.crt 2>/dev/null
		chmod 0644 ./*.crt
	) || { echo "# t_tls: generating TLS material failed"; return 1; }
	rm -rf "$T_TLS"; mv "$d" "$T_TLS"
}

# The health-probe key in the test token (label "probe", EC P-256), made once.
t_probe_key() {
	local list
	[ -s "$EFOS_TEST_DIR/hsm.pin" ] || ( umask 077; printf '%s' "$EFOS_TEST_HSM_PIN" >"$EFOS_TEST_DIR/hsm.pin" )
	list=$(EFOS_P11_PIN=$EFOS_TEST_HSM_PIN pkcs11-tool --module "$EFOS_TEST_HSM_MODULE" --token-label efos-hsm \
		--login --pin env:EFOS_P11_PIN --list-objects --type privkey 2>/dev/null)
	printf '%s\n' "$list" | grep -q 'label:[[:space:]]*probe$' && return 0
	EFOS_P11_PIN=$EFOS_TEST_HSM_PIN pkcs11-tool --module "$EFOS_TEST_HSM_MODULE" --token-label efos-hsm \
		--login --pin env:EFOS_P11_PIN --keypairgen --key-type EC:prime256v1 --id 7e --label probe \
		--usage-sign --sensitive >/dev/null 2>&1 || { echo "# t_probe_key: keygen failed"; return 1; }
}

# --- PostgreSQL ------------------------------------------------------------------------------------

# psql_as CONNINFO SQL...: runs SQL, prints unaligned tuples, fails on the first error.
psql_as() {
	local ci=$1; shift
	psql "$ci" -X -qAt -v ON_ERROR_STOP=1 "$@"
}
pg_conninfo_db() {   # CONNINFO DBNAME: the same conninfo with another dbname
	printf '%s' "$1" | sed "s/dbname=[^ ]*/dbname=$2/"
}
psql_super() { psql_as "$(pg_conninfo_db "$EFOS_TEST_PG_SUPER" "$T_DBNAME")" -c "$*"; }

# t_db NAME: a fresh empty database, owned by efos_owner, like the one pg_up creates.
t_db() {
	T_DBNAME=efos_$(printf '%s' "$1" | tr -c 'a-zA-Z0-9_\n' _)
	psql_as "$EFOS_TEST_PG_SUPER" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $T_DBNAME WITH (FORCE)" >/dev/null || return 1
	psql_as "$EFOS_TEST_PG_SUPER" -c "CREATE DATABASE $T_DBNAME OWNER efos_owner" >/dev/null || return 1
	psql_super "REVOKE CREATE ON SCHEMA public FROM PUBLIC; GRANT USAGE ON SCHEMA public TO efos; ALTER SCHEMA public OWNER TO efos_owner" >/dev/null
	T_PG=$(pg_conninfo_db "$EFOS_TEST_PG" "$T_DBNAME")
	T_PG_OWNER=$(pg_conninfo_db "$EFOS_TEST_PG_OWNER" "$T_DBNAME")
	T_PG_SUPER=$(pg_conninfo_db "$EFOS_TEST_PG_SUPER" "$T_DBNAME")
}

# --- configuration -----------------------------------------------------------------------------------

# write_conf FILE [key=value ...]: sets T_PORT, T_MTLS_PORT, T_URL, T_MTLS_URL, T_CONF.
write_conf() {
	local file=$1; shift
	[ -n "${T_DBNAME:-}" ] || t_db "$T_NAME" || return 1
	T_PORT=$(free_port) && T_MTLS_PORT=$(free_port) || return 1
	T_URL=https://127.0.0.1:$T_PORT
	T_MTLS_URL=https://127.0.0.1:$T_MTLS_PORT
	mkdir -p "$T/state"
	local -a keys=(node.name node.state_dir http.listen http.mtls_listen http.public_url
		tls.cert tls.key tls.client_ca db.conninfo db.admin_conninfo db.migrations_dir db.pool_size
		hsm.module hsm.token hsm.pin_file hsm.probe_key hsm.probe_interval log.level)
	local -A val=(
		[node.name]=test-$T_NAME
		[node.state_dir]=$T/state
		[http.listen]=127.0.0.1:$T_PORT
		[http.mtls_listen]=127.0.0.1:$T_MTLS_PORT
		[http.public_url]=$T_URL
		[tls.cert]=$T_TLS/server.crt
		[tls.key]=$T_TLS/server.key
		[tls.client_ca]=$T_TLS/client-ca.crt
		[db.conninfo]="$T_PG connect_timeout=2"
		[db.admin_conninfo]=$T_PG_OWNER
		[db.migrations_dir]=$EFOS_TOP/db
		[db.pool_size]=4
		[hsm.module]=$EFOS_TEST_HSM_MODULE
		[hsm.token]=$EFOS_TEST_HSM_TOKEN
		[hsm.pin_file]=$EFOS_TEST_DIR/hsm.pin
		[hsm.probe_key]="$EFOS_TEST_HSM_TOKEN;object=probe;type=private"
		[hsm.probe_interval]=1
		[log.level]=info
	)
	local kv k v
	for kv in "$@"; do
		k=${kv%%=*}; v=${kv#*=}
		[ -n "${val[$k]+x}" ] || keys+=("$k")
		val[$k]=$v
	done
	{
		echo "# efosd configuration for test $T_NAME (tests/integration/lib.sh)"
		for k in "${keys[@]}"; do
			[ -n "${val[$k]}" ] && printf '%s = %s\n' "$k" "${val[$k]}"
		done
	} >"$file"
	T_CONF=$file
}

# conf_new_ports CONF: fresh ports for the listeners of CONF (and T_PORT, T_URL...).
conf_new_ports() {
	local conf=$1 old=$T_PORT oldm=$T_MTLS_PORT
	T_PORT=$(free_port) && T_MTLS_PORT=$(free_port) || return 1
	T_URL=https://127.0.0.1:$T_PORT
	T_MTLS_URL=https://127.0.0.1:$T_MTLS_PORT
	sed -i -e "/^http\./s/127\.0\.0\.1:$old\b/127.0.0.1:$T_PORT/" \
		-e "/^http\./s/127\.0\.0\.1:$oldm\b/127.0.0.1:$T_MTLS_PORT/" "$conf"
}

migrate() {
	"$EFOSCTL" -c "$1" db migrate >"$T/migrate.log" 2>&1 || { cat "$T/migrate.log"; return 1; }
}

# --- efosd -------------------------------------------------------------------------------------------

http_code() {
	local url=$1; shift
	curl -s -o /dev/null -w '%{http_code}' --max-time "${T_CURL_TIMEOUT:-5}" --cacert "$T_TLS/ca.crt" "$@" "$url" 2>/dev/null
	return 0
}
healthz_is() { [ "$(http_code "$T_URL/healthz")" = "$1" ]; }

# efosd_start CONF: efosd in the background (stderr+stdout to T_LOG), waits for /healthz 200.
# When another process took one of its ports in the meantime, new ports are written into CONF
# and it tries again (twice at most).
efosd_start() {
	local conf=$1 try=${2:-0}
	T_EXIT=
	local logpos
	: >>"$T_LOG"; logpos=$(wc -c <"$T_LOG")
	"$EFOSD" -c "$conf" </dev/null >>"$T_LOG" 2>&1 &
	T_PID=$!
	echo "$T_PID" >"$T/efosd.pid"
	local deadline=$((SECONDS + 30 * T_SLOW))
	while ! healthz_is 200; do
		if ! kill -0 "$T_PID" 2>/dev/null; then
			wait "$T_PID"; T_EXIT=$?; T_PID=
			if [ "$try" -lt 2 ] && tail -c +"$((logpos + 1))" "$T_LOG" | grep -q 'Address already in use'; then
				echo "# efosd: a port was taken meanwhile; retrying on new ports"
				conf_new_ports "$conf" && efosd_start "$conf" $((try + 1))
				return
			fi
			echo "# efosd exited during start-up with status $T_EXIT"
			return 1
		fi
		if [ $SECONDS -ge $deadline ]; then
			echo "# efosd did not answer /healthz with 200 within $((30 * T_SLOW)) s"
			return 1
		fi
		sleep 0.2
	done
}
efosd_alive() { [ -n "$T_PID" ] && kill -0 "$T_PID" 2>/dev/null; }

# efosd_stop: SIGTERM, wait up to 15 s (then SIGKILL); T_EXIT = exit status.
efosd_stop() {
	[ -n "$T_PID" ] || return 0
	local i
	kill -TERM "$T_PID" 2>/dev/null
	for i in $(seq 1 $((75 * T_SLOW))); do kill -0 "$T_PID" 2>/dev/null || break; sleep 0.2; done
	if kill -0 "$T_PID" 2>/dev/null; then
		echo "# efosd did not stop within $((15 * T_SLOW)) s; SIGKILL"
		kill -KILL "$T_PID" 2>/dev/null
	fi
	wait "$T_PID" 2>/dev/null
	T_EXIT=$?
	T_PID=
	rm -f "$T/efosd.pid"
}
