#!/usr/bin/env python3
"""APPEND the same messages to two IMAP servers and compare their ENVELOPE,
BODYSTRUCTURE and BODY answers (replimail against Cyrus 3.6, issue 3).

usage: cyrus_mime_compare.py --a PORT --b PORT --user U:PW
                             [--create-b ADMIN:PW] [--corpus N] [--seed S]
                             EML...

Every EML file (line ends made CRLF) and N messages of bench/corpus.py
(indices 0..N-1, attachments capped at 64 KB) are APPENDed to the INBOX of
user U on both servers (--create-b creates user/U on B first, as an admin).
Then, per message, on both: UID FETCH of RFC822.SIZE and the SHA-1 of
BODY.PEEK[] (the stored bytes must be the same, else the comparison is
meaningless) and of ENVELOPE, BODYSTRUCTURE and BODY, each item as the raw
bytes on the wire (a literal as {n}CRLF and its bytes).

A message both servers refuse to APPEND is listed in "refused_by_both"; one
refused by only one of them is a difference (item APPEND).

Prints one JSON object {"messages": n, "items": compared, "refused_by_both":
[names], "diffs": [{"name",
"item", "a", "b", "same_after_literal_folding"}]}; an item differs when its
bytes differ, and same_after_literal_folding says whether it would match
with every literal written as a quoted string. Exit 0 when nothing
differs, 1 otherwise, 2 on a protocol error.
"""
import argparse
import hashlib
import imaplib
import json
import os
import re
import sys

from casekit import eml_messages

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "..", "bench"))
from corpus import message  # noqa: E402

ITEMS = ("ENVELOPE", "BODYSTRUCTURE", "BODY")
LITERAL = re.compile(rb"\{(\d+)\}\r\n")


class ProtocolError(Exception):
    pass


def raw_response(data):
    """imaplib's split FETCH answer joined back into the bytes on the wire."""
    out = b""
    for part in data:
        if isinstance(part, tuple):
            out += part[0] + b"\r\n" + part[1]
        elif part is not None:
            out += part
    return out


def item_value(raw, item):
    """The value of `item` in a raw FETCH answer: a balanced list or a token,
    literals included as they were sent."""
    key = b" " + item.encode() + b" "
    i = raw.find(key)
    if i < 0:
        raise ProtocolError("no %s in %r" % (item, raw[:300]))
    i += len(key)
    j, depth = i, 0
    while j < len(raw):
        c = raw[j:j + 1]
        if c == b'"':
            j += 1
            while raw[j:j + 1] != b'"':
                j += 2 if raw[j:j + 1] == b"\\" else 1
        elif c == b"{":
            m = LITERAL.match(raw, j)
            if not m:
                raise ProtocolError("bad literal at %d in %r" % (j, raw[:300]))
            j = m.end() + int(m.group(1)) - 1
        elif c == b"(":
            depth += 1
        elif c == b")":
            depth -= 1
            if depth == 0:
                return raw[i:j + 1]
            if depth < 0:
                return raw[i:j]
        elif c == b" " and depth == 0:
            return raw[i:j]
        j += 1
    return raw[i:j]


def fold_literals(value):
    """Every literal written as a quoted string (when it can be one)."""
    out, pos = b"", 0
    for m in LITERAL.finditer(value):
        if m.start() < pos:
            continue
        n = int(m.group(1))
        text = value[m.end():m.end() + n]
        out += value[pos:m.start()] + b'"' + text.replace(b"\\", b"\\\\").replace(
            b'"', b'\\"') + b'"'
        pos = m.end() + n
    return out + value[pos:]


def login(port, user, password):
    imap = imaplib.IMAP4("127.0.0.1", port)
    imap.login(user, password)
    return imap


def answers(imap, data):
    try:
        typ, resp = imap.append("INBOX", None, None, data)
    except imaplib.IMAP4.error as e:
        return {"APPEND": "BAD " + str(e)}
    if typ != "OK":
        return {"APPEND": "%s %s" % (typ, resp[0].decode("utf-8", "replace"))}
    imap.select("INBOX")
    typ, uids = imap.uid("SEARCH", "ALL")
    uid = uids[0].split()[-1].decode()
    out = {}
    typ, resp = imap.uid("FETCH", uid, "(RFC822.SIZE BODY.PEEK[])")
    raw = raw_response(resp)
    body = [p[1] for p in resp if isinstance(p, tuple)]
    out["STORED"] = "%s %s" % (item_value(raw, "RFC822.SIZE").decode(),
                               hashlib.sha1(body[0] if body else b"").hexdigest())
    for item in ITEMS:
        typ, resp = imap.uid("FETCH", uid, "(%s)" % item)
        if typ != "OK":
            raise ProtocolError("FETCH %s: %r" % (item, resp))
        out[item] = item_value(raw_response(resp), item)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", type=int, required=True)
    ap.add_argument("--b", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--create-b")
    ap.add_argument("--corpus", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("files", nargs="*")
    args = ap.parse_args()
    user, password = args.user.split(":", 1)
    messages = eml_messages(args.files)
    for i in range(args.corpus):
        messages.append(("corpus-%d-%d" % (args.seed, i),
                         message(args.seed, i, user, max_size=65536)[1]))
    diffs, compared, refused = [], 0, []
    try:
        if args.create_b:
            admin, apw = args.create_b.split(":", 1)
            imap = login(args.b, admin, apw)
            typ, resp = imap.create("user/" + user)
            if typ != "OK":
                raise ProtocolError("CREATE user/%s on B: %r" % (user, resp))
            imap.logout()
        a, b = login(args.a, user, password), login(args.b, user, password)
        for name, data in messages:
            got_a, got_b = answers(a, data), answers(b, data)
            if "APPEND" in got_a or "APPEND" in got_b:
                if "APPEND" not in got_a or "APPEND" not in got_b:
                    diffs.append({"name": name, "item": "APPEND",
                                  "a": got_a.get("APPEND", "OK"),
                                  "b": got_b.get("APPEND", "OK"),
                                  "same_after_literal_folding": False})
                else:
                    refused.append(name)
                continue
            if got_a["STORED"] != got_b["STORED"]:
                diffs.append({"name": name, "item": "STORED", "a": got_a["STORED"],
                              "b": got_b["STORED"], "same_after_literal_folding": False})
                continue
            for item in ITEMS:
                compared += 1
                x, y = got_a[item], got_b[item]
                if x != y:
                    diffs.append({"name": name, "item": item,
                                  "a": x.decode("utf-8", "replace"),
                                  "b": y.decode("utf-8", "replace"),
                                  "same_after_literal_folding":
                                      fold_literals(x) == fold_literals(y)})
        a.logout()
        b.logout()
    except (ProtocolError, imaplib.IMAP4.error, OSError) as e:
        print(json.dumps({"error": str(e)}))
        return 2
    print(json.dumps({"messages": len(messages), "items": compared, "refused_by_both": refused,
                      "diffs": diffs}, indent=1))
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
