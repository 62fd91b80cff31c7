"""Deliver N messages over LMTP at a steady rate, changing flags over IMAP as
it goes, and print one JSON object describing what was acknowledged.

usage: steady_load.py --lmtp-port P --user U [-n 2000] [--rate 100]
                      [--prefix m] [--imap-port Q --password W --flag-every 10]
                      [--retry 30] [--start 0] [--reconnect-every K]

Message i (ids "<prefix>-<i>", from lmtpkit, i from --start) is sent at
t0 + i/rate. Every --flag-every deliveries, when --imap-port is given, one
UID STORE changes flags of earlier messages of the user's INBOX (set \\Seen,
\\Flagged or $Label<k>; take \\Seen away again), so replication carries flag
changes as well as new messages. When a connection fails (the server is
being killed and restarted), the message in flight counts as not
acknowledged and the script reconnects every 100 ms for up to --retry
seconds, then goes on with the next message. --reconnect-every K opens a new
LMTP connection every K messages, as an MTA does, so that lmtpd processes
started after a configuration reload take over. Output:
  {"acked": [ids], "failed": [ids], "flag_changes": n, "errors": [first 20],
   "seconds": s}
Exit 0 when every message was acknowledged, else 1.
"""
import argparse
import imaplib
import json
import sys
import time

import lmtpkit


class Reconnecting:
    """A connection made by `make`, re-made after a failure."""

    def __init__(self, make, retry):
        self.make, self.retry, self.conn = make, retry, None

    def get(self):
        deadline = time.monotonic() + self.retry
        while self.conn is None:
            try:
                self.conn = self.make()
            except (OSError, imaplib.IMAP4.error, RuntimeError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        return self.conn

    def drop(self):
        self.conn = None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lmtp-port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--prefix", default="m")
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--size", type=int, default=600)
    ap.add_argument("--imap-port", type=int)
    ap.add_argument("--password")
    ap.add_argument("--flag-every", type=int, default=10)
    ap.add_argument("--retry", type=float, default=30)
    ap.add_argument("--reconnect-every", type=int, default=0)
    a = ap.parse_args()

    def make_imap():
        c = imaplib.IMAP4("127.0.0.1", a.imap_port)
        c.login(a.user, a.password)
        c.select("INBOX")
        return c

    lmtp = Reconnecting(lambda: lmtpkit.connect(a.lmtp_port), a.retry)
    imap = Reconnecting(make_imap, a.retry) if a.imap_port else None
    acked, failed, errors = [], [], []
    flag_changes = 0
    flags = ["\\Seen", "\\Flagged", "$Label1", "$Label2", "\\Answered"]
    t0 = time.monotonic()
    for k in range(a.n):
        i = a.start + k
        wait = t0 + k / a.rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        mid = "%s-%d" % (a.prefix, i)
        if a.reconnect_every and k and k % a.reconnect_every == 0 and lmtp.conn is not None:
            try:
                lmtp.conn.quit()
            except Exception:  # the next get() reconnects either way
                pass
            lmtp.drop()
        try:
            res = lmtpkit.deliver(lmtp.get(), "sender@example.com", [a.user],
                                  lmtpkit.make_message(a.prefix, i, a.user, a.size))
            code, text = res[a.user]
            if code == 250:
                acked.append(mid)
            else:
                failed.append(mid)
                errors.append("%s: %d %s" % (mid, code, text))
        except Exception as e:  # the server went away: reconnect for the next one
            failed.append(mid)
            errors.append("%s: %r" % (mid, e))
            lmtp.drop()
        if imap and k % a.flag_every == a.flag_every - 1:
            try:
                c = imap.get()
                uid = 1 + (k * 7919) % (k + 1)
                flag = flags[(k // a.flag_every) % len(flags)]
                op = "-FLAGS" if (k // a.flag_every) % 4 == 3 else "+FLAGS"
                typ, data = c.uid("STORE", str(uid), op, "(%s)" % flag)
                if typ == "OK":
                    flag_changes += 1
                else:
                    errors.append("STORE %d %s: %r" % (uid, op, data))
            except Exception as e:
                errors.append("imap: %r" % (e,))
                imap.drop()
    for r in (lmtp, imap):
        if r and r.conn is not None:
            try:
                r.conn.quit() if r is lmtp else r.conn.logout()
            except Exception:
                pass
    out = {"acked": acked, "failed": failed, "flag_changes": flag_changes,
           "errors": errors[:20], "seconds": round(time.monotonic() - t0, 3)}
    print(json.dumps(out))
    sys.exit(0 if not failed else 1)


if __name__ == "__main__":
    main()
