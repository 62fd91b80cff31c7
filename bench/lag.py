#!/usr/bin/env python3
"""Replication lag probe: deliver N messages over LMTP at a steady rate to
one user's INBOX on a primary and time, for each message, from its LMTP 250
to the moment it is visible on the replica through IMAP. Used by bench/run-lag
(import lag; lag.measure(...)) and runnable alone.

usage: lag.py --lmtp-port P --replica-imap-port R --user U --password W
              [--primary-imap-port Q] [-n 2000] [--rate 50] [-c CONNS]
              [--poll 0.002] [--size 2000] [--label name] [--settle 60]

How the probe works: C LMTP connections (one process each, -c) share the
schedule: message k leaves at t0 + k/rate from connection k mod C (a late
connection sends at once, it does not skip). Each 250 reply is timestamped
with CLOCK_MONOTONIC, which all processes share. Before the run the probe
reads the primary's UIDNEXT (base, --primary-imap-port) and waits until the
replica shows it. A thread keeps one IMAP connection to the replica, logged
in as the user, and sends `STATUS INBOX (UIDNEXT)` in a loop, sleeping --poll
seconds between polls; the first poll answering UIDNEXT > base+j marks the
(j+1)-th message visible. The j-th 250 (in time order) is paired with the
j-th message visible: over one connection that is exactly message j (UIDs are
given in delivery order); over several it is first-in-first-out, wrong by at
most the few messages in flight at once. The resolution is one poll period
(STATUS round trip plus --poll; the mean is printed as probe_period_ms). A lag
can come out a little below zero when the replica shows a message before its
250 reached the client; it is kept as measured.

Prints (and measure() returns) one object:
  {"label", "n", "rate", "conns", "acked", "seen", "achieved_rate",
   "lag_ms": {"p50","p90","p99","max","mean","min","first_fifth_p50","last_fifth_p50"},
   "delivery_seconds", "drain_ms" (last 250 -> everything visible),
   "probe_period_ms", "errors"}
Exit 0 when every message was acknowledged and seen on the replica.
"""
import argparse
import imaplib
import json
import multiprocessing as mp
import random
import re
import smtplib
import sys
import threading
import time

WORDS = ("mail store replica channel rolling sync log uniqueid tombstone "
         "mailbox folder quota seen flag index record partition message").split()

# A replica keeps up at a rate when (the same rule for both systems):
#   - the primary accepted the asked rate (achieved >= KEEP_UP_DELIVERED of it),
#   - every message reached the replica,
#   - the lag stayed bounded: p99 and drain (last 250 -> replica complete)
#     under KEEP_UP_BOUND_MS,
#   - and did not grow: median lag of the last fifth of the messages at most
#     KEEP_UP_GROWTH_MS above that of the first fifth.
KEEP_UP_DELIVERED = 0.9
KEEP_UP_BOUND_MS = 5000.0
KEEP_UP_GROWTH_MS = 1000.0
KEEP_UP_RULE = ("keeps up = primary accepted >= %d%% of the asked rate, every message on the "
                "replica, p99 lag and drain < %.0f ms, median lag of the last fifth <= first "
                "fifth + %.0f ms" % (KEEP_UP_DELIVERED * 100, KEEP_UP_BOUND_MS,
                                     KEEP_UP_GROWTH_MS))


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


def wait_uidnext(c, target, timeout):
    """Polls until the mailbox's UIDNEXT >= target; returns it."""
    deadline = time.monotonic() + timeout
    u = None
    while time.monotonic() < deadline:
        u = uidnext(c)
        if u >= target:
            return u
        time.sleep(0.05)
    raise TimeoutError("replica did not settle (UIDNEXT %s, want %s)" % (u, target))


def sender(port, user, label, size, rate, conns, k0, n, t0, stop_at, out):
    """One LMTP connection: messages k0, k0+conns, ... of the schedule, none
    sent after stop_at."""
    acks, errors = [], []
    msgs = [(k, make_message(label, k, user, size)) for k in range(k0, n, conns)]
    try:
        lmtp = smtplib.LMTP("127.0.0.1", port, timeout=120)
        lmtp.ehlo("bench.example")
        for k, msg in msgs:
            if time.monotonic() > stop_at:
                break
            wait = t0 + k / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                refused = lmtp.sendmail("bench@example.com", [user], msg)
                if refused:
                    errors.append("message %d refused: %r" % (k, refused))
                else:
                    acks.append(time.monotonic())
            except smtplib.SMTPResponseException as e:
                errors.append("message %d: %r" % (k, e))
        lmtp.quit()
    except (OSError, smtplib.SMTPException) as e:
        errors.append("connection %d: %r" % (k0, e))
    out.put((acks, errors))


def measure(lmtp_port, replica_imap_port, primary_imap_port, user, password, n, rate,
            conns=1, poll=0.002, size=2000, label="run", settle=60.0, max_seconds=None):
    """One run (see the module comment); returns its result object. With
    max_seconds, no message is sent later than that after the start (a
    primary slower than the rate then gets fewer than n)."""
    repl = login(replica_imap_port, user, password)
    prim = login(primary_imap_port, user, password)
    base = uidnext(prim)
    prim.logout()
    wait_uidnext(repl, base, settle)

    seen_at = []
    want = [n]  # lowered to the number acknowledged once delivery is over
    errors = []
    give_up = [None]
    polls = [0]

    def probe():
        while len(seen_at) < want[0]:
            try:
                u = uidnext(repl)
            except Exception as e:  # noqa: BLE001 (reported, probing stops)
                errors.append("probe: %r" % (e,))
                return
            now = time.monotonic()
            polls[0] += 1
            while len(seen_at) < want[0] and u > base + len(seen_at):
                seen_at.append(now)
            if give_up[0] is not None and now > give_up[0]:
                return
            time.sleep(poll)

    out = mp.Queue()
    t0 = time.monotonic() + 0.5 + 0.05 * conns  # every sender connected and waiting
    stop_at = t0 + (max_seconds if max_seconds else 1e9)
    procs = [mp.Process(target=sender, args=(lmtp_port, user, label, size, rate, conns, k, n,
                                             t0, stop_at, out)) for k in range(conns)]
    for p in procs:
        p.start()
    prober = threading.Thread(target=probe)
    t_probe = time.monotonic()
    prober.start()
    acked = []
    for _ in procs:
        a, e = out.get()
        acked += a
        errors += e
    for p in procs:
        p.join()
    acked.sort()
    want[0] = len(acked)
    t_last = acked[-1] if acked else time.monotonic()
    give_up[0] = time.monotonic() + settle
    prober.join()
    t_end = time.monotonic()
    repl.logout()

    lags = [(s - a) * 1000.0 for a, s in zip(acked, seen_at)]
    seen_all = len(seen_at) == len(acked)
    delivery_s = max(t_last - t0, 1e-3)
    res = {"label": label, "n": n, "rate": rate, "conns": conns, "acked": len(acked),
           "seen": len(seen_at), "delivery_seconds": round(delivery_s, 3),
           "achieved_rate": round(len(acked) / delivery_s, 1) if acked else 0.0,
           "drain_ms": round((seen_at[-1] - t_last) * 1000.0, 1) if seen_all else None,
           "probe_period_ms": round((t_end - t_probe) * 1000.0 / max(polls[0], 1), 2),
           "errors": errors[:20]}
    if lags:
        fifth = max(1, len(lags) // 5)
        res["lag_ms"] = {"p50": round(pct(lags, 50), 1), "p90": round(pct(lags, 90), 1),
                         "p99": round(pct(lags, 99), 1), "max": round(max(lags), 1),
                         "mean": round(sum(lags) / len(lags), 1), "min": round(min(lags), 1),
                         "first_fifth_p50": round(pct(lags[:fifth], 50), 1),
                         "last_fifth_p50": round(pct(lags[-fifth:], 50), 1)}
    return res


def keeps_up(r):
    """(True, "") when run `r` of measure() kept up by KEEP_UP_RULE, else
    (False, why)."""
    if r["achieved_rate"] < KEEP_UP_DELIVERED * r["rate"]:
        return False, "primary accepted only %.1f/s of %g/s" % (r["achieved_rate"], r["rate"])
    if r["acked"] != r["n"]:
        return False, "%d of %d messages refused or not sent in time (%s)" % (
            r["n"] - r["acked"], r["n"], "; ".join(r["errors"][:2]))
    if r["seen"] != r["n"]:
        return False, "only %d of %d messages reached the replica" % (r["seen"], r["n"])
    lag = r["lag_ms"]
    if lag["p99"] >= KEEP_UP_BOUND_MS:
        return False, "p99 lag %.0f ms" % lag["p99"]
    if r["drain_ms"] >= KEEP_UP_BOUND_MS:
        return False, "replica complete %.0f ms after the last 250" % r["drain_ms"]
    if lag["last_fifth_p50"] - lag["first_fifth_p50"] > KEEP_UP_GROWTH_MS:
        return False, "lag grew from %.0f to %.0f ms (median, first/last fifth)" % (
            lag["first_fifth_p50"], lag["last_fifth_p50"])
    return True, ""


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lmtp-port", type=int, required=True)
    ap.add_argument("--replica-imap-port", type=int, required=True)
    ap.add_argument("--primary-imap-port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=50)
    ap.add_argument("-c", "--conns", type=int, default=1)
    ap.add_argument("--poll", type=float, default=0.002)
    ap.add_argument("--size", type=int, default=2000)
    ap.add_argument("--label", default="run")
    ap.add_argument("--settle", type=float, default=60)
    a = ap.parse_args()
    r = measure(a.lmtp_port, a.replica_imap_port, a.primary_imap_port, a.user, a.password, a.n,
                a.rate, a.conns, a.poll, a.size, a.label, a.settle)
    print(json.dumps(r))
    sys.exit(0 if r["acked"] == a.n and r["seen"] == a.n else 1)


if __name__ == "__main__":
    main()
