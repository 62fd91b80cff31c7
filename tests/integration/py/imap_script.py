"""Run IMAP commands, one after the other, and print every response line.

usage: imap_script.py --port P --user U:PW [--host H] [--timeout S] COMMAND...

Logs in with LOGIN, sends each COMMAND (without tag) with tag t1, t2, ...,
and prints what the server answers to each, literals inline as
{n}\\r\\n<bytes> on one line; the answers to LOGIN are not printed. Tagged
lines of Cyrus's form "OK Completed (0.000 sec)" lose the timing, so that
two servers' transcripts compare. Exit 1 if the connection fails.
"""
import argparse
import re
import socket
import sys

TIMING = re.compile(r" \((?:[0-9.]+ secs?|\d+ msgs? in [0-9.]+ secs|[0-9.]+ secs \d+ calls)\)$")


def read_response(f, tag):
    lines = []
    while True:
        line = f.readline()
        if not line:
            raise SystemExit("connection closed")
        m = re.search(rb"\{(\d+)\+?\}\r\n$", line)
        while m:
            line = line[:-2] + b"\\r\\n" + f.read(int(m.group(1)))
            more = f.readline()
            line += more
            m = re.search(rb"\{(\d+)\+?\}\r\n$", more)
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if text.startswith(tag + " "):
            text = TIMING.sub("", text)
            lines.append(text)
            return lines
        lines.append(text)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("commands", nargs="*")
    a = p.parse_args()
    user, _, pw = a.user.partition(":")
    s = socket.create_connection((a.host, a.port), timeout=a.timeout)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"a LOGIN %s %s\r\n" % (user.encode(), pw.encode()))
    login = read_response(f, "a")
    if not login[-1].startswith("a OK"):
        raise SystemExit("login failed: %s" % login[-1])
    for i, cmd in enumerate(a.commands, 1):
        tag = "t%d" % i
        s.sendall(("%s %s\r\n" % (tag, cmd)).encode())
        for line in read_response(f, tag):
            print(line)
    s.sendall(b"z LOGOUT\r\n")
    s.close()


if __name__ == "__main__":
    sys.exit(main())
