#!/usr/bin/env python3
"""A whole IMAP session through COMPRESS=DEFLATE (RFC 4978) with imaplib.

Usage: compress_session.py --port N --user U:PW [--starttls] [--create-inbox]

Logs in (after STARTTLS with --starttls), sends COMPRESS DEFLATE, then wraps
the socket in raw deflate both ways and runs a session through it: CREATE,
a large APPEND, SELECT, a large FETCH, FLAGS, SEARCH, STORE, IDLE, a second
COMPRESS (refused), EXPUNGE, DELETE, LOGOUT. Prints one line per failed
check and exits 1 if any failed; prints "ok <checks> in=<bytes> out=<bytes>"
(bytes on the wire, compressed) and exits 0 otherwise.
"""
import argparse
import imaplib
import socket
import ssl
import zlib

from casekit import check, finish

imaplib.Commands.setdefault("COMPRESS", ("AUTH", "SELECTED"))
imaplib.Commands.setdefault("IDLE", ("SELECTED",))




class Deflated(imaplib.IMAP4):
    """imaplib over a socket that turns to raw deflate after COMPRESS."""

    zin = None
    wire_in = 0
    wire_out = 0

    def compress(self):
        typ, data = self._simple_command("COMPRESS", "DEFLATE")
        if typ == "OK":
            # Both ends switch right after the tagged OK.
            self.zout = zlib.compressobj(6, zlib.DEFLATED, -15)
            self.zin = zlib.decompressobj(-15)
            self.inbuf = b""
        return typ, data

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise imaplib.IMAP4.abort("connection closed")
        self.wire_in += len(d)
        self.inbuf += self.zin.decompress(d)

    def read(self, size):
        if self.zin is None:
            return super().read(size)
        while len(self.inbuf) < size:
            self._fill()
        out, self.inbuf = self.inbuf[:size], self.inbuf[size:]
        return out

    def readline(self):
        if self.zin is None:
            return super().readline()
        while b"\n" not in self.inbuf:
            self._fill()
        i = self.inbuf.index(b"\n") + 1
        out, self.inbuf = self.inbuf[:i], self.inbuf[i:]
        return out

    def send(self, data):
        if self.zin is None:
            return super().send(data)
        z = self.zout.compress(data) + self.zout.flush(zlib.Z_SYNC_FLUSH)
        self.wire_out += len(z)
        self.sock.sendall(z)


def big_message(n_lines):
    lines = [b"From: Alice <alice@example.com>", b"To: Bob <bob@example.com>",
             b"Subject: a large message", b"Message-ID: <big@example.com>", b""]
    for i in range(n_lines):
        lines.append(b"line %06d of a long and repetitive body, compressible text" % i)
    return b"\r\n".join(lines) + b"\r\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--starttls", action="store_true")
    ap.add_argument("--create-inbox", action="store_true",
                    help="CREATE INBOX first (a fresh Cyrus user has none)")
    a = ap.parse_args()
    user, _, pw = a.user.partition(":")

    c = Deflated("127.0.0.1", a.port)
    if a.starttls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        check(c.starttls(ssl_context=ctx)[0] == "OK", "STARTTLS")
    check(c.login(user, pw)[0] == "OK", "LOGIN")
    if a.create_inbox:
        c.create("INBOX")
    typ, data = c.capability()
    check(b"COMPRESS=DEFLATE" in data[0].split(), "COMPRESS=DEFLATE advertised after login")
    # maxmessagesize unset: Cyrus's "unlimited" (RFC 7889).
    check(b"APPENDLIMIT=4294967295" in data[0].split(), "APPENDLIMIT: %r" % data)
    typ, data = c.compress()
    check(typ == "OK" and data == [b"DEFLATE active"], "COMPRESS DEFLATE: %r %r" % (typ, data))

    box = "Compressed"
    c.delete(box)  # a leftover of an interrupted run, if any
    check(c.create(box)[0] == "OK", "CREATE through deflate")
    msg = big_message(40000)  # about 2.4 MB
    typ, data = c.append(box, r"(\Flagged)", None, msg)
    check(typ == "OK", "large APPEND: %r %r" % (typ, data))
    small = b"Subject: small\r\n\r\nsmall body\r\n"
    check(c.append(box, None, None, small)[0] == "OK", "small APPEND")
    typ, data = c.select(box)
    check(typ == "OK" and data == [b"2"], "SELECT: %r %r" % (typ, data))
    typ, data = c.fetch("1", "(RFC822.SIZE BODY.PEEK[])")
    body = data[0][1] if typ == "OK" and data and isinstance(data[0], tuple) else b""
    check(body == msg, "large FETCH returns the APPENDed bytes (%d of %d)" % (len(body), len(msg)))
    check(b"RFC822.SIZE %d" % len(msg) in data[0][0], "RFC822.SIZE: %r" % (data[0][0][:80],))
    typ, data = c.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    check(typ == "OK" and b"\\Flagged" in data[0][0] and b"small" in data[2][1],
          "FETCH FLAGS and headers: %r" % (data,))
    typ, data = c.search(None, "SUBJECT", "large")
    check(typ == "OK" and data == [b"1"], "SEARCH SUBJECT: %r" % (data,))
    typ, data = c.store("2", "+FLAGS", r"(\Seen)")
    check(typ == "OK" and b"\\Seen" in data[0], "STORE: %r" % (data,))
    try:
        c._simple_command("COMPRESS", "DEFLATE")
        check(False, "second COMPRESS accepted")
    except imaplib.IMAP4.error as e:
        check("BAD [b'[COMPRESSIONACTIVE] DEFLATE active via COMPRESS']" in str(e),
              "second COMPRESS: %s" % e)
    tag = c._new_tag()
    c.send(tag + b" IDLE\r\n")
    line = c.readline()
    check(line.startswith(b"+"), "IDLE continuation: %r" % line)
    c.send(b"DONE\r\n")
    line = c.readline()
    check(line.startswith(tag + b" OK"), "IDLE ends: %r" % line)
    check(c.store("1:*", "+FLAGS", r"(\Deleted)")[0] == "OK", "STORE \\Deleted")
    typ, data = c.expunge()
    check(typ == "OK" and len(data) == 2, "EXPUNGE: %r" % (data,))
    check(c.close()[0] == "OK", "CLOSE")
    check(c.delete(box)[0] == "OK", "DELETE")
    # The large message went both ways compressed.
    check(c.wire_in < len(msg) / 5 and c.wire_out < len(msg) / 5,
          "wire bytes in=%d out=%d for a %d-byte message" % (c.wire_in, c.wire_out, len(msg)))
    typ, data = c.logout()
    check(typ == "BYE", "LOGOUT: %r %r" % (typ, data))
    finish(" in=%d out=%d" % (c.wire_in, c.wire_out))


if __name__ == "__main__":
    main()
