"""Deliver N test messages over LMTP, optionally over several connections at
once, and print one JSON object describing what was acknowledged.

usage: lmtp_deliver.py --port P [--rcpt alice ...] [-n 100] [--conns 1]
                       [--prefix m] [--size 600]

Message i goes over connection i % conns. Output:
  {"acked": [ids...], "refused": {id: "code text"},
   "sent": {id: [size, sha1]}, "errors": [...], "seconds": s}
where an id is "<prefix>-<i>" and sent gives the size and SHA-1 of the
message as sent (before the server adds its own headers). Exit status 0 when every message
was acknowledged with 250 for every recipient, else 1.
"""
import argparse
import hashlib
import json
import sys
import threading
import time

import lmtpkit


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rcpt", action="append")
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("--conns", type=int, default=1)
    ap.add_argument("--prefix", default="m")
    ap.add_argument("--size", type=int, default=600)
    a = ap.parse_args()
    rcpts = a.rcpt or ["alice"]

    acked, refused, sent = [], {}, {}
    lock = threading.Lock()
    errors = []

    def worker(c):
        try:
            conn = lmtpkit.connect(a.port)
            for i in range(c, a.n, a.conns):
                msg = lmtpkit.make_message(a.prefix, i, rcpts[0], a.size)
                res = lmtpkit.deliver(conn, "sender@example.com", rcpts, msg)
                mid = "%s-%d" % (a.prefix, i)
                with lock:
                    sent[mid] = [len(msg), hashlib.sha1(msg).hexdigest()]
                    bad = {r: v for r, v in res.items() if v[0] != 250}
                    if bad:
                        refused[mid] = " ".join("%s:%d %s" % (r, v[0], v[1])
                                                for r, v in sorted(bad.items()))
                    else:
                        acked.append(mid)
            conn.quit()
        except Exception as e:  # reported in the JSON, the test decides
            with lock:
                errors.append("conn %d: %r" % (c, e))

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(c,)) for c in range(a.conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out = {"acked": acked, "refused": refused, "sent": sent, "errors": errors,
           "seconds": round(time.monotonic() - t0, 3)}
    print(json.dumps(out))
    sys.exit(0 if len(acked) == a.n and not errors else 1)


if __name__ == "__main__":
    main()
