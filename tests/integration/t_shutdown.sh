#!/usr/bin/env bash
# SIGTERM: efosd stops accepting, finishes, exits 0 within a few seconds and logs that it stopped.
. "$(dirname "$0")/lib.sh"
t_init t_shutdown

write_conf "$T/efos.conf"
migrate "$T_CONF" || fail "efosctl db migrate"
if ! efosd_start "$T_CONF"; then fail "efosd starts"; t_done; fi
ok "efosd starts and /healthz answers 200"

pid=$T_PID
start=$SECONDS
efosd_stop
took=$((SECONDS - start))
expect_eq "SIGTERM: exit status 0" "$T_EXIT" 0
if [ "$took" -le $((5 * T_SLOW)) ]; then ok "SIGTERM: stopped within $((5 * T_SLOW)) s ($took s)"; else fail "SIGTERM: stopped within $((5 * T_SLOW)) s" "took $took s"; fi
if grep -qiE 'stopp|shut ?down|exiting' "$T_LOG"; then ok "log says it stopped"; else fail "log says it stopped"; fi
if ! kill -0 "$pid" 2>/dev/null; then ok "process is gone"; else fail "process is gone"; fi
code=$(http_code "$T_URL/healthz")
expect_eq "port closed after stop" "$code" 000
# every log line is JSON
if python3 - "$T_LOG" <<'PY'
import json, sys
bad = 0
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    line = line.strip()
    if not line:
        continue
    try:
        json.loads(line)
    except Exception:
        bad += 1
        print("#   not JSON:", line[:200])
sys.exit(1 if bad else 0)
PY
then ok "every log line is a JSON object"; else fail "every log line is a JSON object"; fi

# started again on the same database and ports: starts cleanly
if efosd_start "$T_CONF"; then ok "restarts on the same ports"; else fail "restarts on the same ports"; fi
efosd_stop
expect_eq "second SIGTERM: exit status 0" "$T_EXIT" 0

t_done
