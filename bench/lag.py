#!/usr/bin/env python3
"""Replication lag: deliver N messages over LMTP at a steady rate to one
user's INBOX on a primary and time, for each message, from its LMTP 250 to
the moment it is visible on the replica through IMAP.

usage: lag.py --lmtp-port P --replica-imap-port R --user U --password W
              [--primary-imap-port Q] [-n 2000] [--rate 50] [--poll 0.002]
              [--size 2000] [--label name] [--settle 60]

How the probe works: one LMTP connection delivers message k at t0 + k/rate
and records the time of its 250 reply. Messages go to one INBOX over one
connection, so message k gets UID base+k, where base is the primary's
UIDNEXT before the run (read over IMAP when --primary-imap-port is given,
else the replica's once it has settled). A second thread keeps one IMAP
connection to the replica, logged in as the user, and sends
`STATUS INBOX (UIDNEXT)` in a loop, sleeping --poll seconds between polls;
the first poll answering UIDNEXT > base+k marks message k visible. The
resolution is one poll period (the STATUS round trip plus --poll; the
measured mean period is printed as probe_period_ms). A lag can come out a
little below zero when the replica shows a message before the 250 reached
the client; it is kept as measured.

Prints one JSON object:
  {"label", "n", "rate", "acked", "seen", "lag_ms": {"p50","p90","p99","max","mean","min"},
   "delivery_seconds", "drain_ms" (last 250 -> everything visible),
   "probe_period_ms", "errors"}
Exit 0 when every message was acknowledged and seen on the replica.
"""
import argparse
import imaplib
import json
import random
import re
import smtplib
import sys
import threading
import time

WORDS = ("mail store replica channel rolling sync log uniqueid tombstone "
         "mailbox folder quota seen flag index record partition message").split()


def make_message(label, k, user, size):
    r = random.Random("%s-%d" % (label, k))
    lines, total = [], 0
    while total < size:
        line = " ".join(r.choice(WORDS) for _ in range(r.randint(3, 11)))
        lines.append(line)
        total += len(line) + 2
    head = ["From: lag bench <bench@example.com>", "To: %s@example.com" % user,
            "Subject: lag %s %d" % (label, k),
            "Date: " + time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
            "Message-ID: <lag.%s.%d.%d@bench.example>" % (label, k, time.time_ns()),
            "X-Lag-Id: %d" % k]
    return "\r\n".join(head) + "\r\n\r\n" + "\r\n".join(lines) + "\r\n"


def uidnext(c):
    typ, data = c.status("INBOX", "(UIDNEXT)")
    if typ != "OK":
        raise RuntimeError("STATUS: %r" % data)
    return int(re.search(rb"UIDNEXT (\d+)", data[0]).group(1))


def login(port, user, password):
    c = imaplib.IMAP4("127.0.0.1", port)
    c.login(user, password)
    return c


def pct(values, p):
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1)))))
    return v[k]


def wait_settled(c, target, timeout):
    """Polls until UIDNEXT >= target (or stops changing when target is None)."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        u = uidnext(c)
        if target is not None and u >= target:
            return u
        if target is None:
            if u != last:
                last, since = u, time.monotonic()
            elif time.monotonic() - since > 2.0:
                return u
        time.sleep(0.05)
    raise TimeoutError("replica did not settle (UIDNEXT %s, want %s)" % (last, target))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lmtp-port", type=int, required=True)
    ap.add_argument("--replica-imap-port", type=int, required=True)
    ap.add_argument("--primary-imap-port", type=int)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=50)
    ap.add_argument("--poll", type=float, default=0.002)
    ap.add_argument("--size", type=int, default=2000)
    ap.add_argument("--label", default="run")
    ap.add_argument("--settle", type=float, default=60)
    a = ap.parse_args()

    repl = login(a.replica_imap_port, a.user, a.password)
    if a.primary_imap_port:
        prim = login(a.primary_imap_port, a.user, a.password)
        base = uidnext(prim)
        prim.logout()
        wait_settled(repl, base, a.settle)
    else:
        base = wait_settled(repl, None, a.settle)

    acked_at = [None] * a.n
    seen_at = [None] * a.n
    errors = []
    done = threading.Event()
    polls = [0]

    def probe():
        seen = 0  # messages [0, seen) are visible
        while seen < a.n:
            try:
                u = uidnext(repl)
            except Exception as e:  # noqa: BLE001 (reported, probing stops)
                errors.append("probe: %r" % (e,))
                return
            now = time.monotonic()
            polls[0] += 1
            while seen < a.n and u > base + seen:
                seen_at[seen] = now
                seen += 1
            if done.is_set() and time.monotonic() > done.deadline:
                return
            time.sleep(a.poll)

    prober = threading.Thread(target=probe)
    t_probe = time.monotonic()
    prober.start()

    lmtp = smtplib.LMTP("127.0.0.1", a.lmtp_port)
    lmtp.ehlo("bench.example")
    t0 = time.monotonic()
    for k in range(a.n):
        wait = t0 + k / a.rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        try:
            refused = lmtp.sendmail("bench@example.com", [a.user],
                                    make_message(a.label, k, a.user, a.size))
            if refused:
                errors.append("message %d refused: %r" % (k, refused))
            else:
                acked_at[k] = time.monotonic()
        except smtplib.SMTPException as e:
            errors.append("message %d: %r" % (k, e))
    t_last = time.monotonic()
    lmtp.quit()
    done.deadline = time.monotonic() + a.settle
    done.set()
    prober.join()
    t_end = time.monotonic()
    repl.logout()

    lags = [(s - ack) * 1000.0 for ack, s in zip(acked_at, seen_at)
            if ack is not None and s is not None]
    seen_all = all(s is not None for s in seen_at)
    out = {"label": a.label, "n": a.n, "rate": a.rate,
           "acked": sum(1 for x in acked_at if x is not None),
           "seen": sum(1 for x in seen_at if x is not None),
           "delivery_seconds": round(t_last - t0, 3),
           "drain_ms": round((max(seen_at) - t_last) * 1000.0, 1) if seen_all else None,
           "probe_period_ms": round((t_end - t_probe) * 1000.0 / max(polls[0], 1), 2),
           "errors": errors[:20]}
    if lags:
        out["lag_ms"] = {"p50": round(pct(lags, 50), 1), "p90": round(pct(lags, 90), 1),
                         "p99": round(pct(lags, 99), 1), "max": round(max(lags), 1),
                         "mean": round(sum(lags) / len(lags), 1), "min": round(min(lags), 1)}
    print(json.dumps(out))
    sys.exit(0 if out["acked"] == a.n and seen_all else 1)


if __name__ == "__main__":
    main()
