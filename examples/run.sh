#!/usr/bin/env bash
# examples/run.sh BIN_DIR STATE_DIR — start the replimail example instance on
# loopback (called by `./dev run`).
#
# Creates the state folder layout, renders examples/<role>/{imapd,cyrus}.conf.in,
# creates the SASL users, starts `master` in the background (its PID recorded
# in STATE_DIR/run/master.pid), creates the demo user's INBOX, delivers a few
# sample messages over LMTP, shows the mailbox and the sync log, and leaves the
# instance running. Stop it with `./dev stop` (examples/stop.sh STATE_DIR).
#
# Environment: REPLIMAIL_LMTP_PORT (default 24024), REPLIMAIL_CHANNELS
# (sync_log_channels, default "replica").
#
# Each instance is one call of start_instance NAME ROLE PIDFILE with its ports
# in the environment, so more instances (replicas) are one call each.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 BIN_DIR STATE_DIR" >&2
  exit 2
fi
EXAMPLES=$(cd "$(dirname "$0")" && pwd)
BIN=$(cd "$1" && pwd)
mkdir -p "$2"
STATE=$(cd "$2" && pwd)

LMTP_PORT=${REPLIMAIL_LMTP_PORT:-24024}
CHANNELS=${REPLIMAIL_CHANNELS:-replica}
ADMIN_PASS=adminpw
DEMO_PASS=demopw

say() { printf '%s\n' "$*"; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

pid_alive() {
  [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
  [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# render TEMPLATE OUT NAME: fills in the @KEY@ placeholders.
render() {
  sed -e "s|@STATE@|$STATE/$3|g" -e "s|@SERVERNAME@|replimail-$3|g" \
      -e "s|@LMTP_PORT@|$LMTP_PORT|g" -e "s|@CHANNELS@|$CHANNELS|g" "$1" > "$2"
}

# start_instance NAME ROLE PIDFILE: lays out STATE/NAME, renders ROLE's
# configs, creates the SASL users and starts master; waits for its pidfile.
start_instance() {
  local name=$1 role=$2 pidfile=$3 dir="$STATE/$1"
  local old; old=$(cat "$pidfile" 2>/dev/null || true)
  if pid_alive "$old"; then
    die "$name is already running (master pid $old); stop it with ./dev stop"
  fi
  port_open "$LMTP_PORT" && die "port $LMTP_PORT is taken; set REPLIMAIL_LMTP_PORT"
  mkdir -p "$dir"/{etc,conf,spool,log} "$STATE/run"
  render "$EXAMPLES/$role/imapd.conf.in" "$dir/etc/imapd.conf" "$name"
  render "$EXAMPLES/$role/cyrus.conf.in" "$dir/etc/cyrus.conf" "$name"
  printf '%s\n' "$ADMIN_PASS" | saslpasswd2 -p -f "$dir/etc/sasldb2" -u "replimail-$name" -c admin
  printf '%s\n' "$DEMO_PASS" | saslpasswd2 -p -f "$dir/etc/sasldb2" -u "replimail-$name" -c demo
  rm -f "$pidfile"
  # -D keeps master in the foreground of its own session; we background it.
  setsid "$BIN/master" -C "$dir/etc/imapd.conf" -M "$dir/etc/cyrus.conf" -p "$pidfile" -D \
    >>"$dir/log/master.log" 2>&1 </dev/null &
  local i
  for i in $(seq 1 100); do
    [ -s "$pidfile" ] && break
    pid_alive $! || die "master of $name exited; see $dir/log/master.log:
$(tail -n 20 "$dir/log/master.log")"
    sleep 0.1
  done
  [ -s "$pidfile" ] || die "master of $name wrote no pidfile; see $dir/log/master.log"
  for i in $(seq 1 100); do port_open "$LMTP_PORT" && break; sleep 0.1; done
  port_open "$LMTP_PORT" || die "LMTP port $LMTP_PORT of $name does not accept"
  say "$name: master running, pid $(cat "$pidfile")"
}

start_instance primary primary "$STATE/run/master.pid"
CONF="$STATE/primary/etc/imapd.conf"

if ! "$BIN/cyr_mbox" -C "$CONF" info user.demo >/dev/null 2>&1; then
  "$BIN/cyr_mbox" -C "$CONF" create user.demo
fi

python3 - "$LMTP_PORT" <<'PY'
import smtplib, sys, time
from email.message import EmailMessage
port = int(sys.argv[1])
lmtp = smtplib.LMTP("127.0.0.1", port)
for i, subject in enumerate(["Welcome to replimail", "Your sync log", "Replication"], 1):
    m = EmailMessage()
    m["From"] = "postmaster@example.com"
    m["To"] = "demo@example.com"
    m["Subject"] = subject
    m["Date"] = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
    m.set_content("Sample message %d, delivered over LMTP by examples/run.sh.\n" % i)
    refused = lmtp.send_message(m, "postmaster@example.com", ["demo"])
    print("delivered %r%s" % (subject, " (refused: %r)" % refused if refused else ""))
lmtp.quit()
PY

say ""
say "== cyr_mbox info user.demo"
"$BIN/cyr_mbox" -C "$CONF" info user.demo
for ch in $CHANNELS; do
  say ""
  say "== tail of the sync log of channel '$ch' ($STATE/primary/conf/sync/$ch/log)"
  tail -n 6 "$STATE/primary/conf/sync/$ch/log" 2>/dev/null || say "(no log yet)"
done

cat <<INFO

replimail primary is running (master pid $(cat "$STATE/run/master.pid")).
  LMTP      127.0.0.1:$LMTP_PORT   (pre-authorised: lmtpd -a)
  configs   $STATE/primary/etc/imapd.conf, cyrus.conf
  logs      $STATE/primary/log/master.log
  users     admin / $ADMIN_PASS  (administrator)   demo / $DEMO_PASS   (test passwords)
  tools     $BIN/cyr_mbox -C $CONF list
            $BIN/ctl_mboxlist -C $CONF -d
Stop it with: ./dev stop   (or: $EXAMPLES/stop.sh $STATE)
INFO
