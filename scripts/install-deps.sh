#!/usr/bin/env bash
# Installs every Debian 12 package that EFOS's build, demo, tests and benchmarks need.
#   scripts/install-deps.sh               -> apt-get update + install whatever is missing
#   scripts/install-deps.sh --if-missing  -> silent no-op when everything is installed
#   scripts/install-deps.sh --list        -> prints the package list
# Idempotent; runs non-interactively. Debian's policy-rc.d keeps the postgresql package from
# starting a system cluster; EFOS never uses the system cluster (it runs private ones).
set -euo pipefail

# The one list. One group per line, with why it is here.
PACKAGES=(
	# build: compiler, pkg-config and the libraries efosd/efosctl link against
	build-essential pkg-config libmicrohttpd-dev libgnutls28-dev libssl-dev libxml2-dev
	libxmlsec1-dev libxmlsec1-openssl libpq-dev libjansson-dev libcurl4-openssl-dev libp11-kit-dev
	# unit tests
	libcmocka-dev
	# PKCS#11: SoftHSM2 (the HSM and the stand-in cards), OpenSC (real cards, pkcs11-tool),
	# libp11 + its OpenSSL engine (demo CA, card curl), p11-kit
	softhsm2 opensc libp11-dev libengine-pkcs11-openssl p11-kit
	# PostgreSQL: private clusters for the demo and the tests (initdb, pg_ctl, psql)
	postgresql postgresql-client
	# test and demo tools: HTTP client, load generator, signature validators, certificates
	curl wrk xmlsec1 poppler-utils libnss3-tools openssl ca-certificates python3
	# the signing tests' reference client (tests/peers/tools/sign-client.py): XML c14n and CMS/DER
	python3-lxml python3-asn1crypto
	# fuzzing: clang with libFuzzer and the sanitizer runtimes (make fuzz, t_fuzz_smoke);
	# zlib for the SAML HTTP-Redirect binding's bounded inflate (core/xml_redirect.c)
	clang libclang-rt-14-dev zlib1g-dev
	# process and socket tools the scripts use (pgrep/ps, ss)
	procps iproute2
	# SAML peers for the interop tests: Apache + mod_auth_mellon, Shibboleth SP
	apache2 libapache2-mod-auth-mellon libapache2-mod-shib shibboleth-sp-utils
	# the performance peer of `make bench` (bench/3-peer_ssp.sh): SimpleSAMLphp as IdP under
	# mod_php. mod_php wants mpm_prefork in the system Apache; the tests' and the bench's Apache
	# instances load their own MPM from their own configs, so the system setting does not matter
	# to them; python3-cryptography signs the bench's AuthnRequests (bench/tools/mk-authnreqs.py)
	simplesamlphp php-cli libapache2-mod-php php-xml php-mbstring python3-cryptography
)

mode=${1:-}
case $mode in
--list) printf '%s\n' "${PACKAGES[@]}"; exit 0;;
""|--if-missing) ;;
*) echo "usage: $0 [--if-missing|--list]" >&2; exit 2;;
esac

missing=()
for p in "${PACKAGES[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	case $st in ii*) ;; *) missing+=("$p");; esac
done

if [ ${#missing[@]} -eq 0 ]; then
	[ "$mode" = --if-missing ] || echo "install-deps: all ${#PACKAGES[@]} packages are installed"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: run as root (or: sudo $0)" >&2
	exit 1
fi

echo "install-deps: installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
apt-get update -q >/dev/null
apt-get install "${apt_opts[@]}" --no-install-recommends "${missing[@]}"
echo "install-deps: done"
