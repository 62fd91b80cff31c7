#!/usr/bin/env bash
# examples/run.sh BIN_DIR STATE_DIR — start the replimail example on loopback:
# a primary and two replicas (called by `./dev run`).
#
# Lays out STATE_DIR/<instance> for primary, replica1 and replica2, renders
# examples/<instance>/{imapd,cyrus}.conf.in, creates the SASL users and starts
# one `master` per instance in the background (PIDs in STATE_DIR/run/*.pid:
# master.pid is the primary's). The replicas run sync_server and imapd; the
# primary runs lmtpd, imapd (search_engine: xapian) and, under master's DAEMON
# section, the sync log writer sync_logd (every instance runs one), one rolling `sync_client -r -n <channel>` per replica and the
# rolling indexer `squatter -R` (channel "squatter"). Then it creates the demo
# user's INBOX on the primary, delivers sample messages over LMTP, waits until
# each replica shows them through IMAP and the index holds them, answers an
# IMAP SEARCH BODY on the primary next to the index's own answer (squatter
# -e), prints `sync_status` and the ports, and leaves everything running.
# Stop it with `./dev stop` (examples/stop.sh).
#
# Environment (all optional):
#   REPLIMAIL_LMTP_PORT, REPLIMAIL_IMAP_PORT          primary (24024, 24143)
#   REPLIMAIL_METRICS_PORT   the primary's Prometheus endpoint, promstatsd (24101)
#   REPLIMAIL_REPLICA1_SYNC_PORT, _REPLICA1_IMAP_PORT  replica1 (24205, 24243)
#   REPLIMAIL_REPLICA2_SYNC_PORT, _REPLICA2_IMAP_PORT  replica2 (24305, 24343)
#   REPLIMAIL_FREE_PORTS=1   every port not given above is a free one instead
#   REPLIMAIL_REPLICAS       replicas to start (default "replica1 replica2")
#   REPLIMAIL_CHANNELS       sync_log_channels (default: the replicas + squatter)
#   REPLIMAIL_SAMPLES        sample messages to deliver (default 3)
# The ports in use are written to STATE_DIR/run/ports (NAME=PORT lines).
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 BIN_DIR STATE_DIR" >&2
  exit 2
fi
EXAMPLES=$(cd "$(dirname "$0")" && pwd)
BIN=$(cd "$1" && pwd)
mkdir -p "$2"
STATE=$(cd "$2" && pwd)

REPLICAS=${REPLIMAIL_REPLICAS:-replica1 replica2}
CHANNELS=${REPLIMAIL_CHANNELS:-$REPLICAS squatter}
SAMPLES=${REPLIMAIL_SAMPLES:-3}
ADMIN_PASS=adminpw
DEMO_PASS=demopw

say() { printf '%s\n' "$*"; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

pid_alive() {
  [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
  [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# port VALUE DEFAULT: VALUE if set, else a free port with REPLIMAIL_FREE_PORTS=1, else DEFAULT.
port() {
  if [ -n "$1" ]; then echo "$1"
  elif [ "${REPLIMAIL_FREE_PORTS:-}" = 1 ]; then free_port
  else echo "$2"; fi
}

LMTP_PORT=$(port "${REPLIMAIL_LMTP_PORT:-}" 24024)
IMAP_PORT=$(port "${REPLIMAIL_IMAP_PORT:-}" 24143)
METRICS_PORT=$(port "${REPLIMAIL_METRICS_PORT:-}" 24101)
REPLICA1_SYNC_PORT=$(port "${REPLIMAIL_REPLICA1_SYNC_PORT:-}" 24205)
REPLICA1_IMAP_PORT=$(port "${REPLIMAIL_REPLICA1_IMAP_PORT:-}" 24243)
REPLICA2_SYNC_PORT=$(port "${REPLIMAIL_REPLICA2_SYNC_PORT:-}" 24305)
REPLICA2_IMAP_PORT=$(port "${REPLIMAIL_REPLICA2_IMAP_PORT:-}" 24343)

# imap_port_of INSTANCE / sync_port_of INSTANCE
imap_port_of() {
  case "$1" in
    primary) echo "$IMAP_PORT" ;; replica1) echo "$REPLICA1_IMAP_PORT" ;;
    replica2) echo "$REPLICA2_IMAP_PORT" ;; *) die "unknown instance $1" ;;
  esac
}
sync_port_of() {
  case "$1" in
    replica1) echo "$REPLICA1_SYNC_PORT" ;; replica2) echo "$REPLICA2_SYNC_PORT" ;;
    *) die "unknown replica $1" ;;
  esac
}

# render TEMPLATE OUT NAME: fills in the @KEY@ placeholders and leaves out the
# rolling client (DAEMON entry "-r -n <replica>") of a replica not started, and
# the rolling squatter when no channel "squatter" is logged.
render() {
  local sync="" drop=() r
  [ "$3" = primary ] || sync=$(sync_port_of "$3")
  for r in replica1 replica2; do
    [[ " $REPLICAS " == *" $r "* ]] || drop+=(-e "/ -r -n $r\"/d")
  done
  [[ " $CHANNELS " == *" squatter "* ]] || drop+=(-e '/squatter -C .* -R"/d')
  sed "${drop[@]}" -e "s|@STATE@|$STATE/$3|g" -e "s|@SERVERNAME@|replimail-$3|g" \
      -e "s|@LMTP_PORT@|$LMTP_PORT|g" -e "s|@METRICS_PORT@|$METRICS_PORT|g" -e "s|@IMAP_PORT@|$(imap_port_of "$3")|g" \
      -e "s|@SYNC_PORT@|$sync|g" -e "s|@CHANNELS@|$CHANNELS|g" \
      -e "s|@REPLICA1_SYNC_PORT@|$REPLICA1_SYNC_PORT|g" \
      -e "s|@REPLICA2_SYNC_PORT@|$REPLICA2_SYNC_PORT|g" "$1" > "$2"
}

# start_instance NAME PIDFILE PORT...: lays out STATE/NAME, renders its
# configs, creates the SASL users and starts master; waits for its pidfile
# and for every PORT to accept connections.
start_instance() {
  local name=$1 pidfile=$2 dir="$STATE/$1" p
  shift 2
  local old; old=$(cat "$pidfile" 2>/dev/null || true)
  if pid_alive "$old"; then
    die "$name is already running (master pid $old); stop it with ./dev stop"
  fi
  for p in "$@"; do
    port_open "$p" && die "port $p ($name) is taken; set the REPLIMAIL_*_PORT variables or REPLIMAIL_FREE_PORTS=1"
  done
  mkdir -p "$dir"/{etc,conf,spool,log} "$STATE/run"
  render "$EXAMPLES/$name/imapd.conf.in" "$dir/etc/imapd.conf" "$name"
  render "$EXAMPLES/$name/cyrus.conf.in" "$dir/etc/cyrus.conf" "$name"
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
  for p in "$@"; do
    for i in $(seq 1 100); do port_open "$p" && break; sleep 0.1; done
    port_open "$p" || die "port $p of $name does not accept; see $dir/log/master.log"
  done
  say "$name: master running, pid $(cat "$pidfile")"
}

mkdir -p "$STATE/run"
# Replicas first, so that the primary's rolling clients find them at once.
for r in $REPLICAS; do
  start_instance "$r" "$STATE/run/$r.pid" "$(sync_port_of "$r")" "$(imap_port_of "$r")"
done
start_instance primary "$STATE/run/master.pid" "$LMTP_PORT" "$IMAP_PORT"
{
  echo "LMTP_PORT=$LMTP_PORT"
  echo "IMAP_PORT=$IMAP_PORT"
  echo "METRICS_PORT=$METRICS_PORT"
  for r in $REPLICAS; do
    echo "${r^^}_SYNC_PORT=$(sync_port_of "$r")"
    echo "${r^^}_IMAP_PORT=$(imap_port_of "$r")"
  done
} > "$STATE/run/ports"
CONF="$STATE/primary/etc/imapd.conf"

if ! "$BIN/cyr_mbox" -C "$CONF" info user.demo >/dev/null 2>&1; then
  "$BIN/cyr_mbox" -C "$CONF" create user.demo
fi

python3 - "$LMTP_PORT" "$SAMPLES" <<'PY'
import smtplib, sys, time
from email.message import EmailMessage
port, n = int(sys.argv[1]), int(sys.argv[2])
subjects = ["Welcome to replimail", "Your sync log", "Replication"]
lmtp = smtplib.LMTP("127.0.0.1", port)
for i in range(1, n + 1):
    subject = subjects[i - 1] if i <= len(subjects) else "Sample %d" % i
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
say "== cyr_mbox info user.demo (primary)"
"$BIN/cyr_mbox" -C "$CONF" info user.demo

# What each instance shows through IMAP, logged in as demo: the replicas must
# reach the primary's count (the rolling clients replicate within
# milliseconds; allow 20 s for a slow start).
say ""
say "== user.demo seen through IMAP (STATUS INBOX, as demo)"
rc=0
python3 - "$DEMO_PASS" "primary:$IMAP_PORT" \
  $(for r in $REPLICAS; do printf '%s:%s ' "$r" "$(imap_port_of "$r")"; done) <<'PY' || rc=$?
import imaplib, re, sys, time
password, targets = sys.argv[1], [t.split(":") for t in sys.argv[2:]]

def status(port):
    c = imaplib.IMAP4("127.0.0.1", int(port))
    try:
        c.login("demo", password)
        typ, data = c.status("INBOX", "(MESSAGES UIDNEXT)")
        if typ != "OK":
            return None
        m = re.search(rb"MESSAGES (\d+) UIDNEXT (\d+)", data[0])
        return (int(m.group(1)), int(m.group(2)))
    finally:
        c.logout()

t0 = time.monotonic()
want = status(targets[0][1])
print("%-9s 127.0.0.1:%-5s %d messages, UIDNEXT %d" % (targets[0][0], targets[0][1], *want))
ok = True
for name, port in targets[1:]:
    got = None
    while time.monotonic() - t0 < 20:
        try:
            got = status(port)
        except (OSError, imaplib.IMAP4.error):
            got = None
        if got == want:
            break
        time.sleep(0.05)
    if got == want:
        print("%-9s 127.0.0.1:%-5s %d messages, UIDNEXT %d (replicated, seen %.2f s after "
              "the primary was read)" % (name, port, *got, time.monotonic() - t0))
    else:
        ok = False
        print("%-9s 127.0.0.1:%-5s NOT caught up after 20 s: %s" % (name, port, got))
sys.exit(0 if ok else 1)
PY

# Full-text search: the rolling squatter indexes what the sync log of channel
# "squatter" names; imapd (search_engine: xapian) answers SEARCH from that
# index. `squatter -e WORD MAILBOX` asks the index alone (no message is read);
# the IMAP SEARCH BODY of the same word on the primary must give those UIDs.
if [[ " $CHANNELS " == *" squatter "* ]]; then
  say ""
  say "== full-text search on the primary (search_engine: xapian, squatter -R)"
  python3 - "$DEMO_PASS" "$IMAP_PORT" "$BIN/squatter" "$CONF" <<'PY' || rc=$?
import imaplib, subprocess, sys, time
password, port, squatter, conf = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
word = "sample"

def index_uids():
    out = subprocess.run([squatter, "-C", conf, "-e", word, "user.demo"],
                         capture_output=True, text=True)
    if out.returncode != 0 or not out.stdout.startswith("user.demo:"):
        return None
    return [int(u) for u in out.stdout.split(":", 1)[1].split()]

c = imaplib.IMAP4("127.0.0.1", port)
c.login("demo", password)
c.select("INBOX", readonly=True)
every = [int(u) for u in c.uid("SEARCH", "ALL")[1][0].split()]
# The rolling squatter indexes within a second of a delivery; allow 20 s.
t0 = time.monotonic()
got = index_uids()
while got != every and time.monotonic() - t0 < 20:
    time.sleep(0.1)
    got = index_uids()
print("index (squatter -e %s user.demo):     UIDs %s%s" %
      (word, got, "" if got == every else "  (NOT all indexed after 20 s)"))
typ, data = c.uid("SEARCH", "BODY", word)
answer = [int(u) for u in data[0].split()]
print("IMAP  (UID SEARCH BODY %s, primary): %s UIDs %s" % (word, typ, answer))
c.logout()
if got == every and answer == got:
    print("same UIDs: the index covers every message of INBOX, and imapd takes a word the "
          "index covers from the index (src/imap/search.h), reading no message")
    sys.exit(0)
print("the index and imapd disagree, or the index is behind")
sys.exit(1)
PY
fi

say ""
say "== sync_status"
if [ -x "$BIN/sync_status" ]; then
  "$BIN/sync_status" -C "$CONF" || true
else
  say "(no $BIN/sync_status)"
fi

cat <<INFO

replimail is running: a primary and its replicas ($REPLICAS), on loopback.
  primary   master pid $(cat "$STATE/run/master.pid")
            LMTP 127.0.0.1:$LMTP_PORT (pre-authorised: lmtpd -a)   IMAP 127.0.0.1:$IMAP_PORT
            sync_log_channels: $CHANNELS
            metrics http://127.0.0.1:$METRICS_PORT/metrics (promstatsd)
INFO
for r in $REPLICAS; do
  say "  $r  master pid $(cat "$STATE/run/$r.pid")"
  say "            sync_server 127.0.0.1:$(sync_port_of "$r")   IMAP 127.0.0.1:$(imap_port_of "$r")"
done
cat <<INFO
  configs   $STATE/<instance>/etc/imapd.conf, cyrus.conf
  logs      $STATE/<instance>/log/master.log
  users     admin / $ADMIN_PASS  (administrator)   demo / $DEMO_PASS   (test passwords)
  tools     $BIN/sync_status -C $CONF [-j]
            $BIN/cyr_mbox -C $CONF list
            $BIN/ctl_mboxlist -C $CONF -d
Stop it with: ./dev stop   (or: $EXAMPLES/stop.sh $STATE)
INFO
if [ "$rc" != 0 ]; then
  say "run.sh: a replica did not catch up; see $STATE/primary/log/master.log" >&2
  exit "$rc"
fi
