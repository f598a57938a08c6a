#!/usr/bin/env bash
# Row group 3, the peer (bench/README.md): SimpleSAMLphp 1.19 as IdP (bench/peers/ssp-idp: a
# private Apache prefork + mod_php with opcache over HTTPS) doing the same work per login as
# efosd: the AuthnRequest's query signature checked, the Response signed (the Assertion not: the
# SP's metadata says WantAssertionsSigned="false", like efosd's bench SP) with an
# RSA-2048 key (in a file: SimpleSAMLphp has no HSM support), the Assertion encrypted for the
# SP (RSA-OAEP-MGF1P; AES-128-CBC, the only data cipher it offers), a no-login test user (exampleauth:StaticSource). The same
# load generator, requests and concurrencies as the login rows; logins/s and EFOS / peer.
# Skipped with a note (never silently) when SimpleSAMLphp, PHP or Apache is missing.
. "$EFOS_TOP/bench/lib-bench.sh"
skip() { echo "note SimpleSAMLphp peer skipped: $*"; exit 0; }
command -v apache2 >/dev/null || skip "apache2 is not installed (scripts/install-deps.sh installs it)"
[ -e /usr/lib/apache2/modules/libphp8.2.so ] || skip "mod_php (libapache2-mod-php) is not installed"
[ -d /usr/share/simplesamlphp/www ] || skip "simplesamlphp is not installed"
bench_env_up || skip "the benchmark environment (SP keys) could not be set up"

P=$EFOS_TEST_DIR/ssp-idp
SRC=$EFOS_TOP/bench/peers/ssp-idp
rm -rf "$P"; mkdir -p "$P"/{config,metadata,cert,log,data,tmp,sessions,run,logs,htdocs}
PORT=$(free_port)
URL=https://127.0.0.1:$PORT
salt=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
peers_render "$SRC/httpd.conf.in" "$P/httpd.conf" "DIR=$P" "PORT=$PORT" "TLS_CERT=$T_TLS/server.crt" "TLS_KEY=$T_TLS/server.key"
peers_render "$SRC/config/config.php.in" "$P/config/config.php" "DIR=$P" "PORT=$PORT" "SALT=$salt" \
	"SP_METADATA=$T/sp-metadata.xml"
cp "$SRC/config/authsources.php" "$P/config/"
peers_render "$SRC/metadata/saml20-idp-hosted.php.in" "$P/metadata/saml20-idp-hosted.php" "PORT=$PORT"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$P/cert/idp.key" -out "$P/cert/idp.crt" -days 30 \
	-subj "/CN=SimpleSAMLphp bench IdP" 2>/dev/null || skip "no IdP key"
chmod 0644 "$T_TLS/server.key" "$P/cert/idp.key"
chown -R www-data "$P/log" "$P/data" "$P/tmp" "$P/sessions" 2>/dev/null
chmod 0777 "$P/log" "$P/data" "$P/tmp" "$P/sessions"
apache2 -f "$P/httpd.conf" -k start >"$P/logs/start.log" 2>&1 || skip "its Apache did not start: $(head -c 300 "$P/logs/start.log")"
trap 'apache2 -f "$P/httpd.conf" -k stop >/dev/null 2>&1' EXIT
wait_for 10 test -s "$P/run/httpd.pid" || skip "its Apache did not start (no pid file)"

SSO=$URL/simplesaml/saml2/idp/SSOService.php
python3 "$EFOS_TOP/bench/tools/mk-authnreqs.py" "$SSO" "$BENCH_SP_ID" "$BENCH_SP_ACS" --key "$T/sp.key" -n 1 --no-loa >"$P/one.txt"
curl -s -o "$P/check.html" -w '%{http_code}' --max-time 30 --cacert "$T_TLS/ca.crt" "$(cat "$P/one.txt")" >"$P/check.code"
if ! grep -q 'name="SAMLResponse"' "$P/check.html"; then
	skip "it did not answer an AuthnRequest with a SAMLResponse form ($(cat "$P/check.code")): $(sed 's/<[^>]*>//g' "$P/check.html" | tr -s ' \n' ' ' | head -c 300) $(tail -3 "$P/logs/error.log" | tr '\n' ' ')"
fi
resp=$(python3 "$PEERS_BIN/html-form.py" field SAMLResponse <"$P/check.html" | base64 -d 2>/dev/null)
grep -q 'EncryptedAssertion' <<<"$resp" || echo "note SimpleSAMLphp: its Response carries no EncryptedAssertion: the rows are not like for like"
algs=$(grep -o 'EncryptionMethod Algorithm="[^"]*"' <<<"$resp" | sed 's/.*#//; s/"$//' | tr '\n' ' ')
echo "note SimpleSAMLphp encrypts with: ${algs:-nothing} (EFOS: aes256-gcm rsa-oaep-mgf1p; SimpleSAMLphp 1.19 hard-codes AES-128-CBC for certificate keys: for a 5 KB assertion the symmetric cipher is a few µs either way, the RSA-OAEP and the one signature are the same work)"

# like for like: it must refuse a request whose query signature does not verify
python3 "$EFOS_TOP/bench/tools/mk-authnreqs.py" "$SSO" "$BENCH_SP_ID" "$BENCH_SP_ACS" --key "$T/sp.key" -n 1 --no-loa |
	sed 's/\(&Signature=\)A/\1B/; t; s/\(&Signature=\)./\1A/' >"$P/bad.txt"   # its first character, always changed
curl -s -o "$P/bad.html" --max-time 30 --cacert "$T_TLS/ca.crt" "$(cat "$P/bad.txt")"
if grep -q 'name="SAMLResponse"' "$P/bad.html"; then
	echo "note SimpleSAMLphp answered an AuthnRequest with a broken query signature: it does not verify them, so it does less work per login than efosd"
fi

secs=$(bench_seconds)
per_row=$(awk -v s="$secs" -v w="$(bench_warmup)" 'BEGIN { printf "%d", (s + w) * 600 }')
status=0
for c in ${EFOS_BENCH_LOGIN_CONCURRENCY:-1 16 64}; do
	python3 "$EFOS_TOP/bench/tools/mk-authnreqs.py" "$SSO" "$BENCH_SP_ID" "$BENCH_SP_ACS" --key "$T/sp.key" \
		-n "$per_row" --no-loa >"$P/reqs.txt"
	line=$(bench_load --urls "$P/reqs.txt" --follow 3 --expect 'name="SAMLResponse"' --concurrency "$c" 2>"$P/load-c$c.err")
	[ -n "$line" ] || { echo "note SimpleSAMLphp c=$c: the load generator failed: $(head -2 "$P/load-c$c.err" | tr '\n' ' ')"; status=1; continue; }
	v=$(bench_field "$line" ops_per_s)
	efos=$(sed -n "s/^result bench=logins case=SSO_session,_concurrency_$c value=\([0-9.]*\).*/\1/p" "${EFOS_BENCH_RESULTS:-$EFOS_TOP/bench/results}/raw/logins.out" 2>/dev/null)
	ratio=$(awk -v a="$efos" -v b="$v" 'BEGIN { if (a == "" || b + 0 == 0) print "n/a"; else printf "%.1fx", a / b }')
	lim=XMLDSIG_HSM_RSA2048_T2; [ "$c" = 1 ] && lim=XMLDSIG_HSM_RSA2048_T1
	echo "result bench=peer case=SimpleSAMLphp,_concurrency_$c value=$v unit=logins/s limit=$lim" \
		"p50_ms=$(bench_field "$line" p50_ms) p99_ms=$(bench_field "$line" p99_ms) errors=$(bench_field "$line" errors)" \
		"EFOS/SimpleSAMLphp=$ratio exhausted=$(bench_field "$line" exhausted)"
done
rm -f "$P/reqs.txt"
echo "note SimpleSAMLphp $(dpkg-query -W -f='${Version}' simplesamlphp 2>/dev/null), PHP $(php -r 'echo PHP_VERSION;' 2>/dev/null), Apache prefork + mod_php + opcache over HTTPS with keep-alive; its IdP key is a file (no HSM), so its limit column is generous to it"
exit $status
