#!/usr/bin/env python3
"""LMTP delivery load: N generated messages over C concurrent connections.

usage: lmtp_delivery.py --port P --rcpt USER [-n 1000] [-c 1] [--seed 1]
                        [--host 127.0.0.1] [--label name]

Messages are deterministic for (seed, index) and shaped like a real mailbox:
about two thirds text/plain, a quarter text+HTML alternatives, the rest with
a small base64 attachment; bodies log-normally sized (median about 3 KB,
1-20 KB overall). Connection k sends messages k, k+C, k+2C, ... one
transaction each, in its own process; all messages are generated before the
clock starts, and the clock stops when the last connection has quit.

Prints one JSON object: label, n, conns, delivered, failed, bytes, seconds,
msgs_per_s, mb_per_s. Exit status 1 if any delivery was refused.
"""
import argparse
import base64
import json
import multiprocessing as mp
import random
import smtplib
import sys
import time

VOCABULARY = ("account agenda answer approve backup branch budget channel "
              "commit conference customer deploy draft flag folder follow "
              "index invoice issue itinerary log mailbox meeting merge minutes "
              "notes order patch project quarterly question release replica "
              "report restore review rolling schedule search server shipping "
              "slides sync team ticket tracking travel update user weekend").split()
PEOPLE = ["Ana Lima", "Ben Okoro", "Chloe Varga", "Dmitri Sokol", "Erin Walsh",
          "Farid Haddad", "Gita Rao", "Hugo Brandt", "Ines Costa", "Jun Park"]


def words(r, lo, hi):
    return " ".join(r.choice(VOCABULARY) for _ in range(r.randint(lo, hi)))


def text_body(r, target):
    """Paragraphs of 72-column lines, CRLF, about `target` bytes."""
    out, size = [], 0
    while size < target:
        line = words(r, 8, 12).capitalize() + "."
        out.append(line)
        size += len(line) + 2
        if r.random() < 0.15:
            out.append("")
            size += 2
    return "\r\n".join(out) + "\r\n"


def make_message(seed, i, rcpt):
    r = random.Random(seed * 7_919 + i)
    who = r.choice(PEOPLE)
    sender = "%s@example.org" % who.split()[0].lower()
    target = int(min(16000, max(300, r.lognormvariate(8.0, 0.7))))
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000",
                         time.gmtime(1_750_000_000 + seed * 86_400 + i * 41))
    head = [
        "Received: from relay%d.example.org (relay%d.example.org [198.51.100.%d])\r\n"
        "\tby mx.example.net with ESMTPS; %s" % (i % 5, i % 5, 1 + i % 250, date),
        "From: %s <%s>" % (who, sender),
        "To: <%s@example.net>" % rcpt,
        "Subject: [%d] %s" % (i, words(r, 2, 7).capitalize()),
        "Date: %s" % date,
        "Message-ID: <bench.%d.%d.%08x@example.org>" % (seed, i, r.getrandbits(32)),
        "MIME-Version: 1.0",
    ]
    kind = r.random()
    if kind < 0.65:
        head.append("Content-Type: text/plain; charset=utf-8")
        body = text_body(r, target)
    elif kind < 0.88:
        b = "alt-%08x" % r.getrandbits(32)
        head.append('Content-Type: multipart/alternative; boundary="%s"' % b)
        txt = text_body(r, target // 2)
        html = "<html><body><pre>\r\n%s</pre></body></html>\r\n" % txt
        body = ("--%s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s"
                "--%s\r\nContent-Type: text/html; charset=utf-8\r\n\r\n%s--%s--\r\n"
                % (b, txt, b, html, b))
    else:
        b = "mix-%08x" % r.getrandbits(32)
        head.append('Content-Type: multipart/mixed; boundary="%s"' % b)
        txt = text_body(r, max(300, target // 3))
        blob = base64.encodebytes(r.randbytes(r.randint(800, 6000))).decode()
        body = ("--%s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s"
                "--%s\r\nContent-Type: application/octet-stream\r\n"
                "Content-Disposition: attachment; filename=\"f%d.bin\"\r\n"
                "Content-Transfer-Encoding: base64\r\n\r\n%s--%s--\r\n"
                % (b, txt, b, i, blob.replace("\n", "\r\n"), b))
    return sender, ("\r\n".join(head) + "\r\n\r\n" + body).encode()


def connection(args, k, barrier, results):
    msgs = [make_message(args.seed, i, args.rcpt) for i in range(k, args.n, args.conns)]
    barrier.wait()
    ok, size = 0, sum(len(m) for _, m in msgs)
    try:
        lmtp = smtplib.LMTP(args.host, args.port, timeout=120)
        lmtp.ehlo_or_helo_if_needed()
        for sender, msg in msgs:
            try:
                refused = lmtp.sendmail(sender, [args.rcpt], msg)
            except smtplib.SMTPResponseException as e:
                refused = {args.rcpt: (e.smtp_code, e.smtp_error)}
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
        "label": args.label, "n": args.n, "conns": args.conns,
        "delivered": delivered, "failed": failed, "bytes": size,
        "avg_size": size // max(1, args.n), "seconds": round(seconds, 3),
        "msgs_per_s": round(delivered / seconds, 1),
        "mb_per_s": round(size / seconds / 1e6, 2)}))
    sys.exit(1 if failed or delivered != args.n else 0)


if __name__ == "__main__":
    main()
