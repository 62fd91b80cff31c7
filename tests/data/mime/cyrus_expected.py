#!/usr/bin/env python3
"""Records what Cyrus IMAP 3.6 answers for each test message in this folder.

For every NN_name.eml: delivers it over LMTP to the Cyrus peer
(/work/shared/peer/cyrus, started with setup.sh; user created with
tools/imapstate.py create-user), then FETCHes it back as testuser and writes

  NN_name.expected  one record per item: "ITEM <name> <length>\\n", then
                    <length> raw bytes of the item's value, then "\\n".

Items: STORED (the bytes Cyrus stored: lmtpd prepends Return-Path and
Received, so tests parse these, the message Cyrus's answers describe),
ENVELOPE, BODYSTRUCTURE, BODY, and BODY[<section>] for SECTIONS (the value is
the raw IMAP token: a literal's bytes, or NIL / "" as printed).

Usage: cyrus_expected.py [--imap-port 14143] [--lmtp-port 14024]
Run it once per message set; it is not needed at test time.
"""
import argparse
import glob
import imaplib
import os
import re
import smtplib
import sys

SECTIONS = ["HEADER", "TEXT", "1", "1.MIME", "2", "2.MIME", "2.HEADER", "2.TEXT", "1.1",
            "2.1", "3", "HEADER.FIELDS (FROM SUBJECT)", "HEADER.FIELDS.NOT (FROM SUBJECT)",
            "2.HEADER.FIELDS (SUBJECT)", "1.2", "2.1.1"]


def raw_response(data):
    """Joins imaplib's split FETCH response back into the bytes on the wire,
    with each literal's bytes wrapped in \\0 markers so values can be cut out."""
    out = b""
    for part in data:
        if isinstance(part, tuple):
            out += part[0] + b"\0" + part[1] + b"\0"
        elif part is not None:
            out += part
    return out


def value_after(resp, item):
    """The value of `item` in a raw FETCH response: a literal, a quoted
    string, NIL, or a balanced parenthesised list."""
    key = item.encode() + b" "
    i = resp.find(key)
    if i < 0:
        raise ValueError("no %s in %r" % (item, resp[:200]))
    i += len(key)
    if resp[i:i + 1] == b"{":
        start = resp.index(b"\0", i) + 1
        end = resp.index(b"\0", start)
        return resp[start:end]
    if resp[i:i + 3] == b"NIL":
        return b"NIL"
    if resp[i:i + 1] == b'"':
        j = i + 1
        while resp[j:j + 1] != b'"':
            j += 2 if resp[j:j + 1] == b"\\" else 1
        return resp[i:j + 1]
    depth, j, in_quote, literal = 0, i, False, False
    out = b""
    while True:
        c = resp[j:j + 1]
        if c == b"\0":
            literal = not literal
            j += 1
            continue
        if literal:
            out += c
            j += 1
            continue
        out += c
        if in_quote:
            if c == b"\\":
                out += resp[j + 1:j + 2]
                j += 2
                continue
            if c == b'"':
                in_quote = False
        elif c == b'"':
            in_quote = True
        elif c == b"(":
            depth += 1
        elif c == b")":
            depth -= 1
            if depth == 0:
                return out
        j += 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--imap-port", type=int, default=14143)
    ap.add_argument("--lmtp-port", type=int, default=14024)
    ap.add_argument("--user", default="testuser")
    ap.add_argument("--password", default="testpw")
    a = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    imap = imaplib.IMAP4("127.0.0.1", a.imap_port)
    imap.login(a.user, a.password)
    for path in sorted(glob.glob(os.path.join(here, "*.eml"))):
        data = open(path, "rb").read()
        lmtp = smtplib.LMTP("127.0.0.1", a.lmtp_port)
        lmtp.sendmail("sender@example.com", [a.user], data)
        lmtp.quit()
        imap.select("INBOX")
        typ, uids = imap.uid("SEARCH", "ALL")
        uid = uids[0].split()[-1].decode()
        items = []
        typ, resp = imap.uid("FETCH", uid, "(BODY.PEEK[])")
        items.append(("STORED", value_after(raw_response(resp), "BODY[]")))
        for item in ["ENVELOPE", "BODYSTRUCTURE", "BODY"]:
            typ, resp = imap.uid("FETCH", uid, "(%s)" % item)
            items.append((item, value_after(raw_response(resp), item)))
        for sec in SECTIONS:
            typ, resp = imap.uid("FETCH", uid, "(BODY.PEEK[%s])" % sec)
            raw = raw_response(resp)
            name = "BODY[%s]" % sec
            m = re.search(rb"BODY\[[^\]]*\] ", raw)
            items.append((name, value_after(raw, m.group(0)[:-1].decode())))
        with open(path[:-4] + ".expected", "wb") as f:
            for name, value in items:
                f.write(b"ITEM %s %d\n" % (name.encode(), len(value)))
                f.write(value + b"\n")
        print("%s: uid %s" % (os.path.basename(path), uid))
    imap.logout()
    return 0


if __name__ == "__main__":
    sys.exit(main())
