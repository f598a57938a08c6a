# Shared shell helpers for the demo, the tests and the benchmarks: a private PostgreSQL
# cluster run as an unprivileged account (initdb refuses root) and SoftHSM2 tokens.
# Source it; functions use set -e semantics of the caller.

EFOS_SOFTHSM_MODULE=${EFOS_SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
PG_RUNAS=${PG_RUNAS:-postgres}
id "$PG_RUNAS" >/dev/null 2>&1 || PG_RUNAS=nobody

# pg_datadir_for DIR: where the cluster of DIR lives. The unprivileged account must be able to
# reach it; when DIR's parents are closed to it (a clone under /root), the data goes to
# /var/tmp and DIR/pg becomes a symlink.
pg_datadir_for() {
	local dir=$1
	if [ -L "$dir/pg" ] || [ -d "$dir/pg" ]; then readlink -f "$dir/pg"; return; fi
	if runuser -u "$PG_RUNAS" -- test -x "$dir" 2>/dev/null; then
		mkdir -p "$dir/pg"
	else
		local alt
		alt=$(mktemp -d /var/tmp/efos-pg.XXXXXX)
		ln -s "$alt" "$dir/pg"
	fi
	readlink -f "$dir/pg"
}

# requester_metadata OUT ENTITY_ID RETURN_URL CERT_PEM: SP metadata of a signature requester
# (an agency web app that sends SignRequests to the signing service, docs/signing-service.md):
# its signing certificate and its SignResponse return URL as the HTTP-POST AssertionConsumerService.
requester_metadata() {
	local b64
	b64=$(sed '/-----/d' "$4" | tr -d '\n')
	cat >"$1" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="$2">
  <md:SPSSODescriptor AuthnRequestsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>$b64</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="$3" index="0"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
XML
}

# pg_up DIR PORT: creates (once) and starts a cluster; roles: postgres (superuser),
# efos_owner (owns the schema, runs migrations), efos (what efosd connects as).
# FSYNC=off for tests; the demo keeps durability on.
pg_up() {
	local dir=$1 port=$2 fsync=${3:-on}
	local pd
	pd=$(pg_datadir_for "$dir")
	chown "$PG_RUNAS" "$pd"; chmod 700 "$pd"
	if [ ! -f "$pd/data/PG_VERSION" ]; then
		runuser -u "$PG_RUNAS" -- "$PGBIN/initdb" -D "$pd/data" -U postgres -A trust -E UTF8 \
			--locale=C.UTF-8 --no-sync >"$pd/initdb.log" 2>&1 || { cat "$pd/initdb.log"; return 1; }
		local fs=""
		[ "$fsync" = off ] && fs="fsync = off
synchronous_commit = off
full_page_writes = off"
		cat >>"$pd/data/postgresql.conf" <<PGC
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$pd'
max_connections = 200
$fs
PGC
	fi
	if ! pg_is_up "$dir"; then
		runuser -u "$PG_RUNAS" -- "$PGBIN/pg_ctl" -D "$pd/data" -l "$pd/server.log" -w -t 60 start >/dev/null \
			|| { tail -20 "$pd/server.log"; return 1; }
	fi
	psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -qAt -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'efos_owner') THEN CREATE ROLE efos_owner LOGIN; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'efos') THEN CREATE ROLE efos LOGIN; END IF;
END $$;
SQL
	if ! psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -qAt -c "SELECT 1 FROM pg_database WHERE datname='efos'" | grep -q 1; then
		psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -q -c "CREATE DATABASE efos OWNER efos_owner" >/dev/null
		psql -h 127.0.0.1 -p "$port" -U postgres -d efos -q -c "REVOKE CREATE ON SCHEMA public FROM PUBLIC; GRANT USAGE ON SCHEMA public TO efos; ALTER SCHEMA public OWNER TO efos_owner" >/dev/null
	fi
}

pg_is_up() {
	local pd
	pd=$(readlink -f "$1/pg" 2>/dev/null) || return 1
	[ -f "$pd/data/postmaster.pid" ] && runuser -u "$PG_RUNAS" -- "$PGBIN/pg_ctl" -D "$pd/data" status >/dev/null 2>&1
}

pg_down() {
	local pd
	pd=$(readlink -f "$1/pg" 2>/dev/null) || return 0
	[ -f "$pd/data/PG_VERSION" ] || return 0
	runuser -u "$PG_RUNAS" -- "$PGBIN/pg_ctl" -D "$pd/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

# pg_restart DIR: for the outage tests.
pg_restart() {
	local pd
	pd=$(readlink -f "$1/pg")
	runuser -u "$PG_RUNAS" -- "$PGBIN/pg_ctl" -D "$pd/data" -l "$pd/server.log" -m fast -w -t 60 restart >/dev/null
}

pg_destroy() {
	local dir=$1 pd
	pg_down "$dir"
	pd=$(readlink -f "$dir/pg" 2>/dev/null) || return 0
	rm -rf "$pd"; rm -rf "$dir/pg"
}

# softhsm_conf DIR: writes DIR/softhsm2.conf with tokens in DIR/tokens.
softhsm_conf() {
	local dir=$1
	mkdir -p "$dir/tokens"
	cat >"$dir/softhsm2.conf" <<CONF
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
	echo "$dir/softhsm2.conf"
}

# softhsm_token LABEL SOPIN PIN: creates the token in the current SOFTHSM2_CONF unless present.
softhsm_token() {
	local label=$1 so=$2 pin=$3
	if ! softhsm2-util --show-slots 2>/dev/null | grep -q "Label:[[:space:]]*$label[[:space:]]*\$"; then
		softhsm2-util --init-token --free --label "$label" --so-pin "$so" --pin "$pin" >/dev/null
	fi
}
