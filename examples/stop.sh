#!/usr/bin/env bash
# examples/stop.sh STATE_DIR — stop what examples/run.sh started, by the PIDs
# it recorded in STATE_DIR/run/*.pid (never by process name): TERM, then KILL
# after 10 seconds. The primary (master.pid) goes first, so that its rolling
# sync_clients stop before their replicas do. State is kept.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 STATE_DIR" >&2
  exit 2
fi
STATE=$1

pid_alive() {
  [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
  [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

shopt -s nullglob
stopped=0
# master.pid (the primary) sorts before replica*.pid.
for pidfile in "$STATE"/run/*.pid; do
  pid=$(tr -dc '0-9' <"$pidfile")
  if pid_alive "$pid"; then
    echo "stopping $(basename "$pidfile" .pid) (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 100); do pid_alive "$pid" || break; sleep 0.1; done
    if pid_alive "$pid"; then
      echo "pid $pid still alive after 10s; sending KILL"
      kill -KILL "$pid"
    fi
    stopped=$((stopped + 1))
  fi
  rm -f "$pidfile"
done
[ $stopped -gt 0 ] || echo "nothing running in $STATE"
echo "state kept in $STATE"
