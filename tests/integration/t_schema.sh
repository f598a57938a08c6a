#!/usr/bin/env bash
# efosd refuses to start on a schema that is behind or ahead of its migrations, saying which;
# and when the database or the HSM cannot be reached at start.
. "$(dirname "$0")/lib.sh"
t_init t_schema

# start_refused NAME ERE: efosd exits 1 (not 0, not a crash) and its output matches ERE
start_refused() {
	local name=$1 ere=$2 out rc
	out=$(timeout $((30 * T_SLOW)) "$EFOSD" -c "$T_CONF" 2>&1 </dev/null); rc=$?
	printf '%s\n' "$out" >>"$T_LOG"
	expect_eq "$name: efosd exits 1" "$rc" 1
	expect_match "$name: says so" "$out" "$ere"
}

write_conf "$T/efos.conf"

# an empty database: behind
start_refused "empty database (schema behind)" 'schema is behind|[Bb]ehind'

# db status on the empty database
out=$("$EFOSCTL" -c "$T_CONF" db status 2>&1); rc=$?
echo "#   db status (empty): rc=$rc $out" | head -5

migrate "$T_CONF"; check "efosctl db migrate" test $? -eq 0
out=$("$EFOSCTL" -c "$T_CONF" db migrate 2>&1); rc=$?
expect_eq "second efosctl db migrate is a no-op (exit 0)" "$rc" 0
out=$("$EFOSCTL" -c "$T_CONF" db status 2>&1); rc=$?
expect_eq "efosctl db status exits 0 when current" "$rc" 0

if efosd_start "$T_CONF"; then ok "efosd starts on the current schema"; else fail "efosd starts on the current schema"; fi
efosd_stop

# behind: the newest applied migration removed from the ledger
last=$(psql_super "SELECT max(version) FROM schema_migrations")
psql_super "DELETE FROM schema_migrations WHERE version = $last" >/dev/null
start_refused "schema behind (version $last not recorded)" '[Bb]ehind'
out=$("$EFOSCTL" -c "$T_CONF" db status 2>&1); rc=$?
if [ "$rc" -ne 0 ]; then ok "efosctl db status exits non-zero when behind ($rc)"; else fail "efosctl db status exits non-zero when behind" "$out"; fi
psql_super "INSERT INTO schema_migrations (version, name) SELECT $last, 'restored'" >/dev/null

# ahead: a version this efosd does not know
psql_super "INSERT INTO schema_migrations (version, name) VALUES (9999, 'from the future')" >/dev/null
start_refused "schema ahead (version 9999)" '[Aa]head'
psql_super "DELETE FROM schema_migrations WHERE version = 9999" >/dev/null

if efosd_start "$T_CONF"; then ok "efosd starts again once the schema is current"; else fail "efosd starts again once the schema is current"; fi
efosd_stop

# database unreachable at start: a port where nothing listens
dead=$(free_port)
write_conf "$T/nodb.conf" "db.conninfo=host=127.0.0.1 port=$dead dbname=efos user=efos connect_timeout=2"
start_refused "database unreachable at start" '[Dd]atabase|db|PostgreSQL|connect'

# HSM token missing at start
write_conf "$T/nohsm.conf" "hsm.token=pkcs11:token=no-such-token" "hsm.probe_key=pkcs11:token=no-such-token;object=probe;type=private"
start_refused "HSM token missing at start" '[Tt]oken|HSM|hsm|PKCS'

t_done
