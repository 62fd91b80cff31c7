#!/usr/bin/env python3
"""Checks the benchmark client's bulk parser (benchlib.RawImap.command)
against a plain line-by-line reading of the same answers: random responses
with FETCH lines, literals holding CRLF, fake tagged lines and "{n}" inside,
SEARCH lines and other untagged lines, delivered in random small pieces over
a socket pair. The counts the suite compares between replimail and Cyrus
come from this parser, so it must agree with the simple reading everywhere.

Run by CTest (bench.rawimap) or by hand: python3 bench/test_rawimap.py [seed]
"""

import random
import re
import socket
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as bl  # noqa: E402

LITERAL_AT_END = re.compile(rb"\{(\d+)\}$")


def reference(data, tag):
    """(tagged line, FETCH lines, SEARCH numbers, bytes): one line at a time."""
    pos, fetches, found = 0, 0, []

    def line():
        nonlocal pos
        end = data.index(b"\r\n", pos)
        text, pos = data[pos:end], end + 2
        return text

    while True:
        text = line()
        if re.match(rb"\* [0-9]+ FETCH ", text):
            fetches += 1
        while LITERAL_AT_END.search(text):
            pos += int(LITERAL_AT_END.search(text).group(1))
            text = line()
        if text.startswith(tag + b" "):
            return text, fetches, found, pos
        if text.startswith(b"* SEARCH"):
            found += text.split()[2:]


def literal(rnd):
    body = bytes(rnd.choice(b"ab\r\n{}5 *FETCHb1OK") for _ in range(rnd.randint(0, 30)))
    return body + rnd.choice([b"", b"\r\nb1 OK fake\r\n", b"{3}\r\n", b"\r\n* 9 FETCH (x)\r\n"])


def response(rnd, tag):
    out = []
    for i in range(rnd.randint(0, 40)):
        kind = rnd.random()
        if kind < 0.4:
            out.append(b"* %d FETCH (FLAGS (\\Seen))\r\n" % i)
        elif kind < 0.6:
            lit = literal(rnd)
            out.append(b"* %d FETCH (BODY[] {%d}\r\n%s)\r\n" % (i, len(lit), lit))
        elif kind < 0.7:  # two literals in one line, the first ending in "{2}\r\n"
            out.append(b"* %d FETCH (A {6}\r\nx{2}\r\n B {1}\r\nZ)\r\n" % i)
        elif kind < 0.85:
            nums = b"".join(b" %d" % rnd.randint(1, 99) for _ in range(rnd.randint(0, 5)))
            out.append(b"* SEARCH" + nums + b"\r\n")
        else:
            out.append(rnd.choice([b"* OK [HIGHESTMODSEQ 5] x\r\n", b"* 3 EXISTS\r\n"]))
    out.append(tag + b" OK done\r\n")
    return b"".join(out)


def check(seed, trials):
    rnd = random.Random(seed)
    for trial in range(trials):
        ours, theirs = socket.socketpair()
        client = bl.RawImap.__new__(bl.RawImap)
        client.sock, client.buf, client.pos, client.tag = ours, bytearray(), 0, 0
        client.piece = memoryview(bytearray(1 << 20))
        answer, after = response(rnd, b"b1"), b"* 4 EXISTS\r\n"
        pieces = []
        sent = answer + after
        while sent:
            n = rnd.randint(1, 24)
            pieces.append(sent[:n])
            sent = sent[n:]

        def serve():
            theirs.recv(100)
            for piece in pieces:
                theirs.sendall(piece)

        server = threading.Thread(target=serve)
        server.start()
        got = client.command("NOOP")
        server.join()
        want = reference(answer, b"b1")
        if got != want:
            raise SystemExit("seed %d trial %d: got %r, want %r for %r" % (seed, trial, got, want, answer))
        rest = bytes(client.buf[client.pos:])
        if not after.startswith(rest):
            raise SystemExit("seed %d trial %d: left %r after the tagged line" % (seed, trial, rest))
        ours.close()
        theirs.close()


def main():
    seeds = [int(sys.argv[1])] if len(sys.argv) > 1 else [1, 2, 3]
    for seed in seeds:
        check(seed, 2000)
    print("test_rawimap: %d seeds x 2000 responses agree" % len(seeds))


if __name__ == "__main__":
    main()
