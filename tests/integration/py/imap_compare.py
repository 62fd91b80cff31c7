"""Wait until several servers show the same mailbox through IMAP, then compare
them message by message, and print one JSON object.

usage: imap_compare.py --user U --password W [--mailbox INBOX] [--wait 30]
                       [HOST:]PORT [[HOST:]PORT ...]

The first server is the reference (the primary); HOST defaults to 127.0.0.1. Until --wait seconds have
passed, STATUS (MESSAGES UIDNEXT HIGHESTMODSEQ) is polled on every server
every 20 ms until all answer the same (replication copies MODSEQs, so equal
HIGHESTMODSEQs mean every flag change arrived too). Then each server is read
with UID FETCH 1:* (FLAGS INTERNALDATE BODY.PEEK[]) and compared: the same
UIDs, and per UID the same flags (\\Recent left out), INTERNALDATE and SHA-1
of the whole message. Output:
  {"converged": bool, "seconds": s, "status": {port: [messages, uidnext, hms]},
   "equal": bool, "differences": [text, ... (at most 20)],
   "messages": {port: n}, "ids": {port: {x-test-id: count}}}
keyed by each server's argument as given.
where ids counts each X-Test-Id header value (see lmtpkit) per server, so
the caller can check that nothing was lost or duplicated. Exit 0 when the
servers converged and are equal, else 1.
"""
import argparse
import hashlib
import imaplib
import json
import re
import sys
import time

FETCH_RE = re.compile(rb"UID (\d+)|FLAGS \(([^)]*)\)|INTERNALDATE \"([^\"]*)\"")


def open_imap(server):
    host, _, port = server.rpartition(":")
    return imaplib.IMAP4(host or "127.0.0.1", int(port))


def connect(port, user, password, mailbox):
    c = open_imap(port)
    c.login(user, password)
    typ, data = c.select(mailbox, readonly=True)
    if typ != "OK":
        raise RuntimeError("SELECT %s on %s: %r" % (mailbox, port, data))
    return c


def status(port, user, password, mailbox):
    c = open_imap(port)
    try:
        c.login(user, password)
        typ, data = c.status(mailbox, "(MESSAGES UIDNEXT HIGHESTMODSEQ)")
        if typ != "OK":
            return None
        text = data[0].decode()
        return [int(re.search(k + r" (\d+)", text).group(1))
                for k in ("MESSAGES", "UIDNEXT", "HIGHESTMODSEQ")]
    finally:
        c.logout()


def dump(port, user, password, mailbox):
    """{uid: (flags, internaldate, sha1, test_id)} of every message."""
    c = connect(port, user, password, mailbox)
    out = {}
    try:
        typ, data = c.uid("FETCH", "1:*", "(FLAGS INTERNALDATE BODY.PEEK[])")
        if typ != "OK":
            raise RuntimeError("UID FETCH on %s: %r" % (port, data))
        for i, item in enumerate(data):
            if not isinstance(item, tuple):
                continue
            meta, body = item
            # Attributes the server sends after the literal arrive as the next item.
            if i + 1 < len(data) and isinstance(data[i + 1], bytes):
                meta += data[i + 1]
            uid = flags = date = None
            for m in FETCH_RE.finditer(meta):
                if m.group(1):
                    uid = int(m.group(1))
                elif m.group(2) is not None:
                    flags = sorted(f for f in m.group(2).decode().split() if f != "\\Recent")
                elif m.group(3):
                    date = m.group(3).decode()
            tid = re.search(rb"^X-Test-Id: (\S+)", body, re.M)
            out[uid] = (flags, date, hashlib.sha1(body).hexdigest(),
                        tid.group(1).decode() if tid else "")
    finally:
        c.logout()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--mailbox", default="INBOX")
    ap.add_argument("--wait", type=float, default=30)
    ap.add_argument("ports", nargs="+")
    a = ap.parse_args()

    t0 = time.monotonic()
    states = {}
    converged = False
    while True:
        for p in a.ports:
            try:
                states[p] = status(p, a.user, a.password, a.mailbox)
            except (OSError, imaplib.IMAP4.error) as e:
                states[p] = repr(e)
        if all(states[p] == states[a.ports[0]] for p in a.ports) and \
                isinstance(states[a.ports[0]], list):
            converged = True
            break
        if time.monotonic() - t0 > a.wait:
            break
        time.sleep(0.02)
    seconds = round(time.monotonic() - t0, 3)

    dumps = {p: dump(p, a.user, a.password, a.mailbox) for p in a.ports}
    ref = dumps[a.ports[0]]
    diffs = []
    for p in a.ports[1:]:
        d = dumps[p]
        missing = sorted(set(ref) - set(d))
        extra = sorted(set(d) - set(ref))
        if missing:
            diffs.append("%s lacks %d UIDs, first %s" % (p, len(missing), missing[:5]))
        if extra:
            diffs.append("%s has %d extra UIDs, first %s" % (p, len(extra), extra[:5]))
        for uid in sorted(set(ref) & set(d)):
            if ref[uid] != d[uid] and len(diffs) < 20:
                diffs.append("%s UID %d: %r != %r" % (p, uid, d[uid][:3], ref[uid][:3]))
    ids = {}
    for p, d in dumps.items():
        counts = {}
        for v in d.values():
            if v[3]:
                counts[v[3]] = counts.get(v[3], 0) + 1
        ids[str(p)] = counts
    out = {"converged": converged, "seconds": seconds,
           "status": {str(p): s for p, s in states.items()},
           "equal": not diffs, "differences": diffs[:20],
           "messages": {str(p): len(d) for p, d in dumps.items()}, "ids": ids}
    print(json.dumps(out))
    sys.exit(0 if converged and not diffs else 1)


if __name__ == "__main__":
    main()
