#!/bin/sh
# One omnilive gateway per core behind HAProxy, on this box (`make serve-cluster`).
#
#   deploy/run-local.sh [more `omnilive serve` flags, e.g. --backend remote ...]
#
# Environment: HOST and PORT (127.0.0.1, 8080) are where HAProxy listens; gateway i
# listens on 127.0.0.1:PORT+i. GATEWAYS (one per core), DRAIN_SECONDS (600: how long
# open calls may go on once asked to stop), OMNILIVE (the venv's omnilive), HAPROXY.
#
# Ctrl+C or SIGTERM drains: every gateway refuses new calls and leaves HAProxy's
# rotation while its open calls finish (their hang-ups still reach it), then HAProxy
# stops. A second Ctrl+C ends the calls at once.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8080}
GATEWAYS=${GATEWAYS:-$(nproc)}
DRAIN_SECONDS=${DRAIN_SECONDS:-600}
OMNILIVE=${OMNILIVE:-$root/.venv/bin/omnilive}
HAPROXY=${HAPROXY:-haproxy}
data=${OMNILIVE_DATA_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/omnilive}

if ! command -v "$HAPROXY" >/dev/null 2>&1; then
    echo "run-local: haproxy is not installed (apt-get install haproxy)" >&2
    exit 1
fi
# The gateways listen on loopback only, so HAProxy is what others reach: the same
# rule as `omnilive serve --host` (no public address without a key).
case "$HOST" in
    127.* | localhost | ::1) ;;
    *)
        if [ -z "${OMNILIVE_API_KEY:-}" ]; then
            case " $* " in
                *" --allow-public "*) ;;
                *)
                    echo "run-local: refusing to listen on $HOST without authentication:" \
                        "set OMNILIVE_API_KEY, or pass --allow-public if this network is trusted" >&2
                    exit 2
                    ;;
            esac
        fi
        ;;
esac

run=$(mktemp -d "${TMPDIR:-/tmp}/omnilive-cluster.XXXXXX")
cp "$here/haproxy.cfg" "$run/haproxy.cfg"
pids=""
i=1
while [ "$i" -le "$GATEWAYS" ]; do
    port=$((PORT + i))
    # Its own session: a Ctrl+C in this terminal reaches this script only, which then
    # asks each gateway once (SIGTERM) to drain.
    setsid "$OMNILIVE" serve --host 127.0.0.1 --port "$port" --data-dir "$data/g$i" \
        --drain-seconds "$DRAIN_SECONDS" "$@" &
    pids="$pids $!"
    printf '    server g%d 127.0.0.1:%d\n' "$i" "$port" >>"$run/haproxy.cfg"
    i=$((i + 1))
done

export OMNILIVE_LB_BIND="$HOST:$PORT" OMNILIVE_LB_SOCKET="$run/haproxy.sock"
setsid "$HAPROXY" -db -f "$run/haproxy.cfg" &
lb=$!
echo "run-local: $GATEWAYS gateway(s) behind HAProxy on http://$HOST:$PORT" \
    "(admin socket $run/haproxy.sock); Ctrl+C drains them"

stopping=0
stop() {
    if [ "$stopping" -eq 0 ]; then
        echo "run-local: draining (up to ${DRAIN_SECONDS}s; Ctrl+C again to end the calls now)" >&2
    fi
    stopping=$((stopping + 1))
    # shellcheck disable=SC2086 # a list of pids
    kill -TERM $pids 2>/dev/null || true
}
trap stop INT TERM

alive() {
    for pid in $pids; do
        kill -0 "$pid" 2>/dev/null && return 0
    done
    return 1
}
while alive; do
    if [ "$stopping" -eq 0 ] && ! kill -0 "$lb" 2>/dev/null; then
        echo "run-local: haproxy exited; stopping the gateways" >&2
        stop
    fi
    sleep 1 &
    wait $! || true # returns early when a signal arrives
done
kill -TERM "$lb" 2>/dev/null || true
wait "$lb" 2>/dev/null || true
rm -rf "$run"
