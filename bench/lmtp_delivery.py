#!/usr/bin/env python3
"""LMTP delivery load: N generated messages over C concurrent connections.

usage: lmtp_delivery.py --port P --rcpt USER[,USER...] [-n 1000] [--first K] [-c 1]
                        [--seed 1] [--host 127.0.0.1] [--label name] [--smtplib]

Messages are bench/corpus.py's, deterministic for (seed, index): mostly
2-20 KB, a tail of attachments to several MB, several charsets and MIME
shapes (see corpus.py). Messages K..K+N-1 of the corpus are sent (--first K,
default 0, so a mailbox can grow by steps with the same bytes on every run):
connection k sends messages K+k, K+k+C, ... one transaction each, in its own
process, to the (k mod count)th of the --rcpt users; all messages are
generated before the clock starts, and the clock stops when the last
connection has quit.

The client must not be what is measured: Python's smtplib costs about
0.7 ms a message here (four round trips, each reply parsed line by line,
the dot-stuffing done while the clock runs), as much as a whole durable
delivery. So by default each connection sends the bytes smtplib would send,
prepared before the clock starts (dot-stuffed, the terminating ".", SIZE=
when the server offers it), and uses RFC 2033's PIPELINING, which every
LMTP server must offer: MAIL, RCPT and DATA in one write, their three
replies read together, then the message and its one reply per recipient:
two round trips a message, on both sides alike. A server that does not
offer PIPELINING is sent one command at a time. --smtplib uses smtplib.

Prints one JSON object: label, n, conns, delivered, failed, bytes, seconds,
msgs_per_s, mb_per_s. Exit status 1 if any delivery was refused.
"""
import argparse
import json
import math
import multiprocessing as mp
import os
import re
import smtplib
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from corpus import message  # noqa: E402


class Replies:
    """LMTP replies read from a socket: (code, text) per reply, multi-line
    replies joined."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def line(self):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line, self.buf = self.buf[:i + 1], self.buf[i + 1:]
                return line.rstrip(b"\r\n")
            more = self.sock.recv(65536)
            if not more:
                raise OSError("connection closed by the server")
            self.buf += more

    def reply(self):
        text = []
        while True:
            line = self.line()
            text.append(line[4:])
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), b"\n".join(text)


def wire_data(msg):
    """The DATA payload exactly as smtplib.SMTP.data sends it."""
    q = re.sub(rb"(?m)^\.", b"..", msg)
    if q[-2:] != b"\r\n":
        q += b"\r\n"
    return q + b".\r\n"


def raw_connection(args, rcpt, msgs):
    """Sends msgs over one LMTP connection; (delivered, refused)."""
    sock = socket.create_connection((args.host, args.port), timeout=120)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rd = Replies(sock)
    code, _ = rd.reply()
    if code != 220:
        raise OSError("greeting %d" % code)
    sock.sendall(b"LHLO bench.example.org\r\n")
    code, text = rd.reply()
    if code != 250:
        raise OSError("LHLO refused: %d" % code)
    ext = {ln.split()[0].upper() for ln in text.split(b"\n") if ln.split()}
    pipelining, size = b"PIPELINING" in ext, b"SIZE" in ext
    jobs = []
    for sender, msg in msgs:
        mail = b"MAIL FROM:<%s>%s\r\n" % (sender.encode(), b" size=%d" % len(msg) if size else b"")
        jobs.append((mail, b"RCPT TO:<%s>\r\n" % rcpt.encode(), wire_data(msg)))
    return sock, rd, pipelining, jobs


def raw_send(sock, rd, pipelining, jobs, rcpt, lat):
    """Sends the jobs; appends each accepted transaction's latency (s, MAIL
    FROM sent to the 250 after DATA) to `lat`; returns the number accepted."""
    ok = 0
    for mail, rcpt_cmd, data in jobs:
        t = time.monotonic()
        if pipelining:
            sock.sendall(mail + rcpt_cmd + b"DATA\r\n")
            codes = [rd.reply()[0] for _ in range(3)]
        else:
            codes = []
            for cmd in (mail, rcpt_cmd, b"DATA\r\n"):
                sock.sendall(cmd)
                codes.append(rd.reply()[0])
                if codes[-1] >= 400:
                    break
        if codes[-1] == 354:
            sock.sendall(data)
            code, text = rd.reply()
            if code == 250 and codes[0] == 250 and codes[1] == 250:
                ok += 1
                lat.append(time.monotonic() - t)
                continue
            codes.append(code)
        else:
            sock.sendall(b"RSET\r\n")
            codes.append(rd.reply()[0])
        print("refused: %s: %r" % (rcpt, codes), file=sys.stderr)
    sock.sendall(b"QUIT\r\n")
    rd.reply()
    sock.close()
    return ok


def connection(args, k, barrier, results):
    rcpts = args.rcpt.split(",")
    rcpt = rcpts[k % len(rcpts)]
    msgs = [message(args.seed, i, rcpt)
            for i in range(args.first + k, args.first + args.n, args.conns)]
    ok, size, lat = 0, sum(len(m) for _, m in msgs), []
    if not args.smtplib:
        try:
            conn = raw_connection(args, rcpt, msgs)
        except OSError as e:
            print("connection %d: %r" % (k, e), file=sys.stderr)
            barrier.wait()
            results.put((0, len(msgs), size, []))
            return
        barrier.wait()
        try:
            ok = raw_send(*conn, rcpt, lat)
        except OSError as e:
            print("connection %d: %r" % (k, e), file=sys.stderr)
        results.put((ok, len(msgs) - ok, size, lat))
        return
    barrier.wait()
    try:
        lmtp = smtplib.LMTP(args.host, args.port, timeout=120)
        lmtp.ehlo_or_helo_if_needed()
        for sender, msg in msgs:
            t = time.monotonic()
            try:
                refused = lmtp.sendmail(sender, [rcpt], msg)
            except smtplib.SMTPResponseException as e:
                refused = {rcpt: (e.smtp_code, e.smtp_error)}
            if refused:
                print("refused: %r" % (refused,), file=sys.stderr)
            else:
                ok += 1
                lat.append(time.monotonic() - t)
        lmtp.quit()
    except (OSError, smtplib.SMTPException) as e:
        print("connection %d: %r" % (k, e), file=sys.stderr)
    results.put((ok, len(msgs) - ok, size, lat))


def percentile_ms(sorted_s, q):
    """The q-th percentile (nearest rank) of sorted latencies in s, in ms."""
    if not sorted_s:
        return None
    i = min(len(sorted_s) - 1, max(0, math.ceil(q / 100.0 * len(sorted_s)) - 1))
    return round(sorted_s[i] * 1000.0, 2)


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
    ap.add_argument("--smtplib", action="store_true",
                    help="send with smtplib, one command at a time")
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
    lat = sorted(x for g in got for x in g[3])
    print(json.dumps({
        "label": args.label, "n": args.n, "first": args.first, "conns": args.conns,
        "delivered": delivered, "failed": failed, "bytes": size,
        "avg_size": size // max(1, args.n), "seconds": round(seconds, 3),
        "msgs_per_s": round(delivered / seconds, 1),
        "mb_per_s": round(size / seconds / 1e6, 2),
        "lat_p50_ms": percentile_ms(lat, 50), "lat_p99_ms": percentile_ms(lat, 99)}))
    sys.exit(1 if failed or delivered != args.n else 0)


if __name__ == "__main__":
    main()
