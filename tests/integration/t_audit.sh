#!/usr/bin/env bash
# The audit chain: `efosctl audit verify` passes on an intact chain and names the row that a
# superuser altered or deleted; efosd's role cannot UPDATE, DELETE or TRUNCATE audit_log.
. "$(dirname "$0")/lib.sh"
t_init t_audit

write_conf "$T/efos.conf"
migrate "$T_CONF"; check "efosctl db migrate" test $? -eq 0

verify() { "$EFOSCTL" -c "$T_CONF" audit verify 2>&1; }

out=$(verify); rc=$?
expect_eq "audit verify on a fresh chain: exit 0" "$rc" 0
expect_match "audit verify says intact" "$out" 'audit chain intact: [0-9]+ rows'
n=$(psql_super "SELECT count(*) FROM audit_log")
if [ "$n" -ge 1 ]; then ok "efosctl db migrate wrote an audit event ($n rows)"; else fail "efosctl db migrate wrote an audit event"; fi

# a few more events, appended the way efosd does (audit_append), so the chain has a middle
for i in 1 2 3 4; do
	psql_as "$T_PG" -c "SELECT audit_append('test', 'tester', 'test.event', 'obj$i', 'success', '{\"i\": $i}')" >/dev/null \
		|| fail "role efos appends an audit event ($i)"
done
n=$(psql_super "SELECT count(*) FROM audit_log")
out=$(verify); rc=$?
expect_eq "audit verify after appends: exit 0" "$rc" 0
expect_match "audit verify counts $n rows" "$out" "intact: $n rows"

# superuser SQL bypassing the append-only trigger
super_sql() { psql_super "SET session_replication_role = replica; $*"; }

# alter one row's details
victim=$(psql_super "SELECT id FROM audit_log ORDER BY id OFFSET 2 LIMIT 1")
orig=$(psql_super "SELECT details::text FROM audit_log WHERE id = $victim")
super_sql "UPDATE audit_log SET details = '{\"i\": 999}' WHERE id = $victim" >/dev/null
out=$(verify); rc=$?
echo "#   verify after altering row $victim: $out"
expect_eq "altered row: audit verify exits 3" "$rc" 3
expect_match "altered row: output names row $victim" "$out" "broken at row $victim([^0-9]|\$)"
# restore
super_sql "UPDATE audit_log SET details = '$orig' WHERE id = $victim" >/dev/null
out=$(verify); rc=$?
expect_eq "restored row: audit verify exits 0" "$rc" 0

# delete a row in the middle
victim=$(psql_super "SELECT id FROM audit_log ORDER BY id OFFSET 1 LIMIT 1")
saved=$(psql_super "COPY (SELECT * FROM audit_log WHERE id = $victim) TO STDOUT")
super_sql "DELETE FROM audit_log WHERE id = $victim" >/dev/null
out=$(verify); rc=$?
echo "#   verify after deleting row $victim: $out"
expect_eq "deleted row: audit verify exits 3" "$rc" 3
expect_match "deleted row: output names row $victim or its successor" "$out" "broken at row ($victim|$((victim + 1)))([^0-9]|\$)"
printf '%s\n' "$saved" | psql "$T_PG_SUPER" -X -q -v ON_ERROR_STOP=1 \
	-c "SET session_replication_role = replica" -c "COPY audit_log FROM STDIN" >/dev/null
out=$(verify); rc=$?
expect_eq "re-inserted row: audit verify exits 0" "$rc" 0

# cut off the newest row
last=$(psql_super "SELECT max(id) FROM audit_log")
saved=$(psql_super "COPY (SELECT * FROM audit_log WHERE id = $last) TO STDOUT")
super_sql "DELETE FROM audit_log WHERE id = $last" >/dev/null
out=$(verify); rc=$?
echo "#   verify after cutting off row $last: $out"
expect_eq "newest row removed: audit verify exits 3" "$rc" 3
printf '%s\n' "$saved" | psql "$T_PG_SUPER" -X -q -v ON_ERROR_STOP=1 \
	-c "SET session_replication_role = replica" -c "COPY audit_log FROM STDIN" >/dev/null
out=$(verify); rc=$?
expect_eq "chain restored: audit verify exits 0" "$rc" 0

# efosd's role: may append, may not rewrite
id=$(psql_super "SELECT min(id) FROM audit_log")
for stmt in "UPDATE audit_log SET details = '{}' WHERE id = $id" "DELETE FROM audit_log WHERE id = $id" "TRUNCATE audit_log" \
	"INSERT INTO audit_log (id, at, node, actor, action, outcome, prev_hash, hash) VALUES (100000, now(), 'x', 'x', 'x', 'success', sha256(''), sha256(''))" \
	"UPDATE audit_chain_head SET last_id = last_id"; do
	if out=$(psql_as "$T_PG" -c "$stmt" 2>&1); then
		fail "role efos cannot: ${stmt%% WHERE*}" "it could: $out"
	else
		ok "role efos cannot: ${stmt:0:40}... ($(printf '%s' "$out" | head -1 | cut -c1-60))"
	fi
done
# even the schema owner cannot by mistake (trigger)
if out=$(psql_as "$T_PG_OWNER" -c "DELETE FROM audit_log WHERE id = $id" 2>&1); then
	fail "schema owner cannot DELETE from audit_log" "it could"
else
	ok "schema owner cannot DELETE from audit_log (append-only trigger)"
fi
out=$(verify); rc=$?
expect_eq "chain intact at the end" "$rc" 0

t_done
