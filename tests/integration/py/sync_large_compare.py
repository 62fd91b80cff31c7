#!/usr/bin/env python3
"""Compare what two IMAP servers show a set of users, as a client sees it.

usage: sync_large_compare.py --a PORT --b PORT --user NAME:PASSWORD [--user ...]
                       [--host 127.0.0.1] [--max-diffs 20]

For each user, logged in on both servers: the folder list (LIST "" "*",
names and attributes), the subscriptions (LSUB), the quota of INBOX
(GETQUOTAROOT: root, resources, usage, limits) and, for every folder
(EXAMINE), UIDVALIDITY, UIDNEXT, EXISTS and per message UID, FLAGS (without
\\Recent), INTERNALDATE, RFC822.SIZE and the SHA-1 of BODY.PEEK[].

Prints one JSON object {"users", "folders", "messages", "bytes", "diffs",
"seconds"}, where folders/messages/bytes count server A's side and diffs
lists the first differences as "user/folder: what: a | b". Exit status 0
when nothing differs, 1 otherwise, 2 on a protocol error.
"""
import argparse
import hashlib
import imaplib
import json
import re
import sys
import time

CHUNK = 500
META = re.compile(rb"^(\d+) \(.*?UID (\d+)")
FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")
DATE = re.compile(rb'INTERNALDATE "([^"]+)"')
SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
LIST_LINE = re.compile(rb'^\(([^)]*)\) (?:"[^"]*"|NIL) (.+)$')


class ProtocolError(Exception):
    pass


def check(typ, data, what):
    if typ != "OK":
        raise ProtocolError("%s: %s %r" % (what, typ, data))
    return data


def mailbox_name(raw):
    raw = raw.strip()
    if raw.startswith(b'"'):
        return raw[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\").decode()
    return raw.decode()


def quoted(name):
    return '"%s"' % name.replace("\\", "\\\\").replace('"', '\\"')


def folders(imap, command):
    out = {}
    for line in check(*getattr(imap, command)('""', '"*"'), command):
        if line is None:
            continue
        if isinstance(line, tuple):  # a name sent as a literal
            m = LIST_LINE.match(line[0].rsplit(b"{", 1)[0] + b'""')
            out[line[1].decode()] = m.group(1).decode() if m else ""
            continue
        m = LIST_LINE.match(line)
        if not m:
            raise ProtocolError("%s: unparsable %r" % (command, line))
        out[mailbox_name(m.group(2))] = " ".join(
            sorted(a for a in m.group(1).decode().split() if a.lower() != "\\noinferiors"))
    return out


def quota(imap):
    typ, data = imap._simple_command("GETQUOTAROOT", "INBOX")
    check(typ, data, "GETQUOTAROOT")
    roots = imap._untagged_response(typ, data, "QUOTAROOT")[1]
    quotas = imap._untagged_response(typ, data, "QUOTA")[1]
    return {"roots": sorted(r.decode() for r in roots if r),
            "quota": sorted(q.decode() for q in quotas if q)}


def folder_state(imap, name):
    typ, data = imap.select(quoted(name), readonly=True)
    check(typ, data, "EXAMINE " + name)
    state = {"exists": int(data[0])}
    for key in ("UIDVALIDITY", "UIDNEXT"):
        state[key.lower()] = (imap.untagged_responses.get(key) or [b"?"])[0].decode()
    msgs = {}
    if state["exists"]:
        seq_uid = {}
        data = check(*imap.fetch("1:*", "(UID FLAGS INTERNALDATE RFC822.SIZE)"), "FETCH")
        for line in data:
            if isinstance(line, tuple):
                line = line[0]
            m = META.match(line)
            if not m:
                raise ProtocolError("FETCH: unparsable %r" % line)
            seq, uid = int(m.group(1)), int(m.group(2))
            flags = sorted(f for f in FLAGS.search(line).group(1).decode().split()
                           if f != "\\Recent")
            msgs[uid] = {"flags": " ".join(flags),
                         "internaldate": DATE.search(line).group(1).decode(),
                         "size": int(SIZE.search(line).group(1))}
            seq_uid[seq] = uid
        for lo in range(1, state["exists"] + 1, CHUNK):
            hi = min(state["exists"], lo + CHUNK - 1)
            data = check(*imap.fetch("%d:%d" % (lo, hi), "(BODY.PEEK[])"), "FETCH BODY")
            for item in data:
                if not isinstance(item, tuple):
                    continue
                seq = int(item[0].split(b" ", 1)[0])
                msg = msgs[seq_uid[seq]]
                msg["sha1"] = hashlib.sha1(item[1]).hexdigest()
                msg["body_bytes"] = len(item[1])
    imap.close()
    state["messages"] = msgs
    return state


def user_state(host, port, user, password):
    imap = imaplib.IMAP4(host, port)
    imap.login(user, password)
    st = {"list": folders(imap, "list"), "lsub": folders(imap, "lsub"), "quota": quota(imap)}
    st["folders"] = {name: folder_state(imap, name) for name in sorted(st["list"])
                     if "\\Noselect" not in st["list"][name]}
    imap.logout()
    return st


def diff(user, a, b, out):
    def add(where, what, x, y):
        out.append("%s/%s: %s: %s | %s" % (user, where, what, x, y))

    for key in ("list", "lsub", "quota"):
        if a[key] != b[key]:
            add("", key, json.dumps(a[key]), json.dumps(b[key]))
    for name in sorted(set(a["folders"]) | set(b["folders"])):
        fa, fb = a["folders"].get(name), b["folders"].get(name)
        if fa is None or fb is None:
            add(name, "folder", fa is not None, fb is not None)
            continue
        for key in ("exists", "uidvalidity", "uidnext"):
            if fa[key] != fb[key]:
                add(name, key, fa[key], fb[key])
        ma, mb = fa["messages"], fb["messages"]
        for uid in sorted(set(ma) | set(mb)):
            if ma.get(uid) != mb.get(uid):
                add(name, "uid %d" % uid, json.dumps(ma.get(uid)), json.dumps(mb.get(uid)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--a", type=int, required=True)
    ap.add_argument("--b", type=int, required=True)
    ap.add_argument("--user", action="append", required=True)
    ap.add_argument("--max-diffs", type=int, default=20)
    args = ap.parse_args()
    t0 = time.monotonic()
    diffs, nfolders, nmsgs, nbytes = [], 0, 0, 0
    try:
        for spec in args.user:
            user, password = spec.split(":", 1)
            a = user_state(args.host, args.a, user, password)
            b = user_state(args.host, args.b, user, password)
            nfolders += len(a["folders"])
            for f in a["folders"].values():
                nmsgs += len(f["messages"])
                nbytes += sum(m.get("body_bytes", 0) for m in f["messages"].values())
            diff(user, a, b, diffs)
    except (ProtocolError, imaplib.IMAP4.error, OSError) as e:
        print(json.dumps({"error": str(e)}))
        return 2
    print(json.dumps({"users": len(args.user), "folders": nfolders, "messages": nmsgs,
                      "bytes": nbytes, "diffs": diffs[:args.max_diffs],
                      "ndiffs": len(diffs), "seconds": round(time.monotonic() - t0, 2)}))
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
