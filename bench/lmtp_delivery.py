#!/usr/bin/env python3
"""LMTP delivery load: N generated messages over C concurrent connections.

usage: lmtp_delivery.py --port P --rcpt USER[,USER...] [-n 1000] [--first K] [-c 1]
                        [--seed 1] [--host 127.0.0.1] [--label name]

Messages are bench/corpus.py's, deterministic for (seed, index): mostly
2-20 KB, a tail of attachments to several MB, several charsets and MIME
shapes (see corpus.py). Messages K..K+N-1 of the corpus are sent (--first K,
default 0, so a mailbox can grow by steps with the same bytes on every run):
connection k sends messages K+k, K+k+C, ... one transaction each, in its own
process, to the (k mod count)th of the --rcpt users; all messages are
generated before the clock starts, and the clock stops when the last
connection has quit.

Prints one JSON object: label, n, conns, delivered, failed, bytes, seconds,
msgs_per_s, mb_per_s. Exit status 1 if any delivery was refused.
"""
import argparse
import json
import multiprocessing as mp
import os
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from corpus import message  # noqa: E402


def connection(args, k, barrier, results):
    rcpts = args.rcpt.split(",")
    rcpt = rcpts[k % len(rcpts)]
    msgs = [message(args.seed, i, rcpt)
            for i in range(args.first + k, args.first + args.n, args.conns)]
    barrier.wait()
    ok, size = 0, sum(len(m) for _, m in msgs)
    try:
        lmtp = smtplib.LMTP(args.host, args.port, timeout=120)
        lmtp.ehlo_or_helo_if_needed()
        for sender, msg in msgs:
            try:
                refused = lmtp.sendmail(sender, [rcpt], msg)
            except smtplib.SMTPResponseException as e:
                refused = {rcpt: (e.smtp_code, e.smtp_error)}
            if refused:
                print("refused: %r" % (refused,), file=sys.stderr)
            else:
                ok += 1
        lmtp.quit()
    except (OSError, smtplib.SMTPException) as e:
        print("connection %d: %r" % (k, e), file=sys.stderr)
    results.put((ok, len(msgs) - ok, size))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rcpt", required=True)
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("-c", "--conns", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--label", default="")
    args = ap.parse_args()

    barrier = mp.Barrier(args.conns + 1)
    results = mp.Queue()
    procs = [mp.Process(target=connection, args=(args, k, barrier, results))
             for k in range(args.conns)]
    for p in procs:
        p.start()
    barrier.wait()
    t0 = time.monotonic()
    got = [results.get() for _ in procs]
    seconds = time.monotonic() - t0
    for p in procs:
        p.join()
    delivered = sum(g[0] for g in got)
    failed = sum(g[1] for g in got)
    size = sum(g[2] for g in got)
    print(json.dumps({
        "label": args.label, "n": args.n, "first": args.first, "conns": args.conns,
        "delivered": delivered, "failed": failed, "bytes": size,
        "avg_size": size // max(1, args.n), "seconds": round(seconds, 3),
        "msgs_per_s": round(delivered / seconds, 1),
        "mb_per_s": round(size / seconds / 1e6, 2)}))
    sys.exit(1 if failed or delivered != args.n else 0)


if __name__ == "__main__":
    main()
