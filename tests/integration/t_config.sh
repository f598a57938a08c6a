#!/usr/bin/env bash
# Configuration errors stop efosd with FILE:LINE: key: what is wrong; a good file says OK;
# secrets cannot be given on the command line.
. "$(dirname "$0")/lib.sh"
t_init t_config

good=$T/good.conf
write_conf "$good"

out=$("$EFOSD" -c "$good" --check-config 2>&1); rc=$?
expect_eq "good config: --check-config exits 0" "$rc" 0
expect_match "good config: --check-config says OK" "$out" '(^|[^A-Za-z])OK'

# check_err NAME FILE KEY: exit 1 and a line FILE:LINE: KEY: ...
check_err() {
	local name=$1 file=$2 key=$3 line=${4:-[0-9]+}
	local out rc
	out=$("$EFOSD" -c "$file" --check-config 2>&1); rc=$?
	expect_eq "$name: exit status 1" "$rc" 1
	expect_match "$name: names $file:LINE: $key" "$out" "$(printf '%s' "$file" | sed 's/[.[\*^$]/\\&/g'):$line: $(printf '%s' "$key" | sed 's/[.]/\\./g'):"
	echo "#   $name: $out" | head -3
}

# an unknown key, on a known line
bad=$T/unknown.conf
cp "$good" "$bad"; echo "http.lisen_port = 8443" >>"$bad"
check_err "unknown key" "$bad" http.lisen_port "$(wc -l <"$bad")"

# a bad value
bad=$T/badvalue.conf
sed 's/^db.pool_size = .*/db.pool_size = many/' "$good" >"$bad"
check_err "bad value (db.pool_size = many)" "$bad" db.pool_size "$(grep -n '^db.pool_size' "$bad" | cut -d: -f1)"

bad=$T/badsize.conf
cp "$good" "$bad"; echo "http.max_body_bytes = -5" >>"$bad"
check_err "bad value (http.max_body_bytes = -5)" "$bad" http.max_body_bytes "$(wc -l <"$bad")"

bad=$T/badlisten.conf
sed 's/^http.listen = .*/http.listen = 127.0.0.1:99999/' "$good" >"$bad"
check_err "bad value (port 99999)" "$bad" http.listen "$(grep -n '^http.listen' "$bad" | cut -d: -f1)"

# a missing required key
bad=$T/missing.conf
grep -v '^db.conninfo' "$good" >"$bad"
check_err "missing required key db.conninfo" "$bad" db.conninfo
bad=$T/missing2.conf
grep -v '^hsm.probe_key' "$good" >"$bad"
check_err "missing required key hsm.probe_key" "$bad" hsm.probe_key

# a secret: neither pin_file nor pin_env
bad=$T/nopin.conf
grep -v '^hsm.pin_file' "$good" >"$bad"
check_err "no HSM PIN source" "$bad" 'hsm.pin_(file|env)'

# a PIN file readable by others is refused or at least the PIN never comes from argv
out=$("$EFOSD" --pin "$EFOS_TEST_HSM_PIN" -c "$good" --check-config 2>&1); rc=$?
if [ "$rc" -ne 0 ] && ! printf '%s' "$out" | grep -qE '(^|[^A-Za-z])OK'; then
	ok "efosd --pin is refused (exit $rc)"
else
	fail "efosd --pin is refused" "exit $rc: $out"
fi
help=$("$EFOSD" --help 2>&1)
if printf '%s' "$help" | grep -qiE -- '--(pin|password|so-pin)'; then
	fail "efosd --help offers no PIN/password option" "$help"
else
	ok "efosd --help offers no PIN/password option"
fi

# efosctl config check agrees
out=$("$EFOSCTL" -c "$T/unknown.conf" config check 2>&1); rc=$?
expect_eq "efosctl config check: unknown key exits 1" "$rc" 1
out=$("$EFOSCTL" -c "$good" config check 2>&1); rc=$?
expect_eq "efosctl config check: good config exits 0" "$rc" 0

# efosd itself (not just --check-config) refuses to start on a bad file
out=$(timeout 20 "$EFOSD" -c "$T/unknown.conf" 2>&1); rc=$?
expect_eq "efosd refuses to start on an unknown key (exit 1)" "$rc" 1
expect_match "efosd start-up error names FILE:LINE: key" "$out" "unknown\.conf:[0-9]+: http\.lisen_port:"

t_done
