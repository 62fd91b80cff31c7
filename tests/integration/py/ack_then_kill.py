"""The moment lossless failover is about: a change acknowledged, then the
primary killed at once.

usage: ack_then_kill.py deliver --lmtp-port P --imap-port P --user U
                        --password PW --kill PID[,PID...] [--prefix p]
       ack_then_kill.py read --imap-port P --user U --password PW

deliver: logs in over IMAP first, then delivers one message over LMTP and
APPENDs another over IMAP at the same time; the moment both are answered
it sends SIGKILL to every PID given (the primary's master and all its
processes) and prints {"lmtp": [code, text], "append": [status, text],
"sha1": {id: sha1 of the bytes sent}, "ack_ms": {id: ms}}.
read: prints {"messages": {X-Test-Id: sha1 of the message}} of the user's
INBOX (BODY.PEEK[]; for the APPENDed one the bytes as sent).
"""
import argparse
import hashlib
import imaplib
import json
import os
import re
import signal
import threading
import time

import lmtpkit


def deliver(a):
    imap = imaplib.IMAP4("127.0.0.1", a.imap_port)
    imap.login(a.user, a.password)
    lmtp = lmtpkit.connect(a.lmtp_port)
    by_lmtp = lmtpkit.make_message(a.prefix + "-lmtp", 0, a.user)
    by_append = lmtpkit.make_message(a.prefix + "-append", 0, a.user)
    pids = [int(p) for p in a.kill.split(",") if p]
    out = {"sha1": {a.prefix + "-lmtp-0": hashlib.sha1(by_lmtp).hexdigest(),
                    a.prefix + "-append-0": hashlib.sha1(by_append).hexdigest()},
           "ack_ms": {}}
    lock = threading.Lock()
    left = [2]
    t0 = time.monotonic()

    def answered(key, value, mid):
        with lock:
            out[key] = value
            out["ack_ms"][mid] = round((time.monotonic() - t0) * 1000, 1)
            left[0] -= 1
            last = left[0] == 0
        if last:
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def by_lmtp_thread():
        try:
            res = lmtpkit.deliver(lmtp, "sender@example.com", [a.user], by_lmtp)
            code, text = res[a.user]
        except Exception as e:  # reported, the test decides
            code, text = -1, repr(e)
        answered("lmtp", [code, text], a.prefix + "-lmtp-0")

    def by_append_thread():
        try:
            typ, data = imap.append("INBOX", None, None, by_append)
            value = [typ, b" ".join(d for d in data if d).decode(errors="replace")]
        except Exception as e:
            value = ["ERROR", repr(e)]
        answered("append", value, a.prefix + "-append-0")

    threads = [threading.Thread(target=f) for f in (by_lmtp_thread, by_append_thread)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(out))


def read(a):
    imap = imaplib.IMAP4("127.0.0.1", a.imap_port)
    imap.login(a.user, a.password)
    imap.select("INBOX", readonly=True)
    typ, data = imap.fetch("1:*", "(BODY.PEEK[])")
    messages = {}
    if typ == "OK":
        for item in data:
            if not isinstance(item, tuple):
                continue
            body = item[1]
            m = re.search(rb"^X-Test-Id: (\S+)", body, re.M)
            messages[m.group(1).decode() if m else "?"] = hashlib.sha1(body).hexdigest()
    imap.logout()
    print(json.dumps({"messages": messages}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["deliver", "read"])
    ap.add_argument("--lmtp-port", type=int)
    ap.add_argument("--imap-port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--kill", default="")
    ap.add_argument("--prefix", default="w")
    a = ap.parse_args()
    deliver(a) if a.mode == "deliver" else read(a)


main()
