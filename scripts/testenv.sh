#!/usr/bin/env bash
# The test environment: a throwaway PostgreSQL (fsync off) and a SoftHSM2 token acting as the HSM.
#   scripts/testenv.sh up [DIR]    -> creates/starts it, writes DIR/env (source it)
#   scripts/testenv.sh down [DIR]  -> stops PostgreSQL and removes DIR
# Default DIR: var/test. Port: EFOS_TEST_PGPORT or 55432.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/lib-env.sh"
cmd=${1:-up}
dir=${2:-$top/var/test}
port=${EFOS_TEST_PGPORT:-55432}
case $cmd in
up)
	mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
	pg_up "$dir" "$port" off
	export SOFTHSM2_CONF
	SOFTHSM2_CONF=$(softhsm_conf "$dir/hsm")
	softhsm_token efos-hsm 12345678 1234
	cat >"$dir/env" <<ENV
export SOFTHSM2_CONF=$SOFTHSM2_CONF
export EFOS_TEST_DIR=$dir
export EFOS_TEST_HSM_MODULE=$EFOS_SOFTHSM_MODULE
export EFOS_TEST_HSM_TOKEN='pkcs11:token=efos-hsm'
export EFOS_TEST_HSM_PIN=1234
export EFOS_TEST_HSM_SO_PIN=12345678
export EFOS_TEST_PGPORT=$port
export EFOS_TEST_PG='host=127.0.0.1 port=$port dbname=efos user=efos'
export EFOS_TEST_PG_OWNER='host=127.0.0.1 port=$port dbname=efos user=efos_owner'
export EFOS_TEST_PG_SUPER='host=127.0.0.1 port=$port dbname=efos user=postgres'
ENV
	echo "$dir/env";;
down)
	pg_destroy "$dir"; rm -rf "$dir";;
restart-pg)
	pg_restart "$dir";;
*) echo "usage: $0 up|down|restart-pg [DIR]" >&2; exit 2;;
esac
