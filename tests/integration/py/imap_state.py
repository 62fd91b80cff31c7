"""What a user sees over IMAP, made and compared on any two servers (Cyrus
or replimail), for the replication interop tests.

usage:
  imap_state.py do --port P --user U --password PW STEP...
      run each STEP, a JSON array ["verb", args...], in one session:
        ["create", mbox]            ["delete", mbox]       ["rename", old, new]
        ["subscribe", mbox]         ["unsubscribe", mbox]
        ["append", mbox, subject, flags, date]  (flags "(\\Seen)", date "01-Feb-2024 10:00:00 +0000")
        ["store", mbox, uids, "+FLAGS"|"-FLAGS"|"FLAGS", "(\\Seen $Label1)"]
        ["expunge", mbox, uids]     (marks them \\Deleted, UID EXPUNGE)
        ["copy", mbox, uids, dest]  ["read", mbox, uids]  (FETCH BODY[]: sets \\Seen)
        ["setacl", mbox, who, rights]  ["setquota", root, storage_kib]
      exit 1 on the first step the server refuses
  imap_state.py dump --port P --user U --password PW
      JSON of the user's view: LIST, LSUB, quota limits of INBOX, and for every
      selectable mailbox STATUS (UIDVALIDITY UIDNEXT MESSAGES [HIGHESTMODSEQ])
      and per message UID, FLAGS (without \\Recent), INTERNALDATE,
      RFC822.SIZE, SHA-1 of BODY[] (and MODSEQ with CONDSTORE)
  imap_state.py compare --port P --port2 P2 --user U --password PW [--wait S]
      dump both and print every difference; exit 0 iff identical. Only
      what both servers advertise is compared (MODSEQs need CONDSTORE on
      both, the quota QUOTA); INTERNALDATE days are compared as numbers. With
      --wait, retry until identical or S seconds have passed.
"""
import argparse
import hashlib
import imaplib
import json
import re
import ssl
import sys
import time

HOST = "127.0.0.1"


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def check(what, res):
    typ, data = res
    if typ != "OK":
        raise RuntimeError("%s: %s %r" % (what, typ, data))
    return data


def do_steps(c, steps):
    for step in steps:
        verb, args = step[0], step[1:]
        what = json.dumps(step)
        if verb == "create":
            check(what, c.create(quote(args[0])))
        elif verb == "delete":
            check(what, c.delete(quote(args[0])))
        elif verb == "rename":
            check(what, c.rename(quote(args[0]), quote(args[1])))
        elif verb == "subscribe":
            check(what, c.subscribe(quote(args[0])))
        elif verb == "unsubscribe":
            check(what, c.unsubscribe(quote(args[0])))
        elif verb == "append":
            mbox, subject, flags, date = args
            body = ("From: test@example.com\r\nTo: u@example.com\r\nSubject: %s\r\n"
                    "Message-ID: <%s@interop>\r\n\r\nbody of %s\r\n"
                    % (subject, subject.replace(" ", "."), subject)).encode()
            check(what, c.append(quote(mbox), flags or None, '"%s"' % date, body))
        elif verb == "store":
            mbox, uids, op, flags = args
            check(what, c.select(quote(mbox)))
            check(what, c.uid("STORE", uids, op, flags))
        elif verb == "expunge":
            mbox, uids = args
            check(what, c.select(quote(mbox)))
            check(what, c.uid("STORE", uids, "+FLAGS.SILENT", "(\\Deleted)"))
            check(what, c.uid("EXPUNGE", uids))
        elif verb == "copy":
            mbox, uids, dest = args
            check(what, c.select(quote(mbox)))
            check(what, c.uid("COPY", uids, quote(dest)))
        elif verb == "read":
            mbox, uids = args
            check(what, c.select(quote(mbox)))
            check(what, c.uid("FETCH", uids, "(BODY[])"))
        elif verb == "setacl":
            check(what, c.setacl(quote(args[0]), args[1], args[2]))
        elif verb == "setquota":
            check(what, c.setquota(quote(args[0]), "(STORAGE %d)" % int(args[1])))
        else:
            raise RuntimeError("unknown step " + what)
        if verb in ("store", "expunge", "copy", "read"):
            c.close()


LIST_RE = re.compile(rb'\(([^)]*)\) (?:"[^"]*"|NIL) (.*)$')


def parse_list(data):
    out = []
    for item in data:
        if item is None:
            continue
        if isinstance(item, tuple):
            m = LIST_RE.match(item[0])
            name = item[1]
            flags = m.group(1)
        else:
            m = LIST_RE.match(item)
            if not m:
                continue
            flags, name = m.group(1), m.group(2)
            if name.startswith(b'"'):
                name = name[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
        out.append((name.decode(), sorted(f for f in flags.decode().split()
                                          if f.lower() not in ("\\haschildren",
                                                               "\\hasnochildren"))))
    return sorted(out)


def fetch_all(c, condstore):
    items = "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[]%s)" % (
        " MODSEQ" if condstore else "")
    typ, data = c.uid("FETCH", "1:*", items)
    if typ != "OK":
        raise RuntimeError("FETCH: %r" % data)
    # imaplib gives (line up to the literal, literal) then the rest of the
    # line as bytes: gather each message's text around its body.
    msgs = []
    for item in data:
        if isinstance(item, tuple):
            msgs.append([item[0], hashlib.sha1(item[1]).hexdigest()])
        elif isinstance(item, bytes) and msgs:
            msgs[-1][0] += b" " + item
    out = []
    for text, sha1 in msgs:
        d = {"sha1": sha1}
        for key, rx in (("uid", rb"UID (\d+)"), ("size", rb"RFC822\.SIZE (\d+)"),
                        ("internaldate", rb'INTERNALDATE "([^"]*)"'),
                        ("modseq", rb"MODSEQ \((\d+)\)")):
            m = re.search(rx, text)
            if m:
                d[key] = m.group(1).decode()
        if "internaldate" in d:
            d["internaldate"] = day_fixed(d["internaldate"])
        m = re.search(rb"FLAGS \(([^)]*)\)", text)
        if m:
            d["flags"] = sorted(f for f in m.group(1).decode().split() if f != "\\Recent")
        out.append(d)
    return sorted(out, key=lambda d: int(d.get("uid", 0)))


def capabilities(c):
    typ, data = c.capability()
    return set(data[0].decode().upper().split()) if typ == "OK" else set()


def connect(port):
    """An IMAP connection to HOST:port, under STARTTLS (certificate not
    checked) when the server allows no LOGIN in clear."""
    c = imaplib.IMAP4(HOST, port)
    if "LOGINDISABLED" in c.capabilities and "STARTTLS" in c.capabilities:
        c.starttls(ssl._create_unverified_context())
    return c


def login_caps(port, user, password):
    c = connect(port)
    c.login(user, password)
    caps = capabilities(c)
    c.logout()
    return caps


def day_fixed(date):
    """INTERNALDATE with the day as RFC 3501's date-day-fixed (" 1-Feb-...")."""
    day, rest = date.strip().split("-", 1)
    return "%2d-%s" % (int(day), rest)


def dump(port, user, password, caps=None):
    c = connect(port)
    c.login(user, password)
    if caps is None:
        caps = capabilities(c)
    condstore = "CONDSTORE" in caps
    state = {"list": parse_list(check("LIST", c.list('""', '"*"'))),
             "lsub": [n for n, _ in parse_list(check("LSUB", c.lsub('""', '"*"')))],
             "mailboxes": {}}
    typ, data = c.getquotaroot("INBOX") if "QUOTA" in caps else ("NO", None)
    if typ == "OK":
        # Limits only: usage is rounded differently by the two servers
        # (docs/CYRUS-NOTES.md).
        text = " ".join(x.decode() for d in data for x in (d if isinstance(d, list) else [d])
                        if isinstance(x, bytes))
        state["quota"] = sorted(re.findall(r"([A-Z-]+) \d+ (\d+)", text))
    for name, flags in state["list"]:
        if "\\Noselect" in flags or "\\NonExistent" in flags:
            continue
        items = "(MESSAGES UIDNEXT UIDVALIDITY%s)" % (" HIGHESTMODSEQ" if condstore else "")
        st = check("STATUS " + name, c.status(quote(name), items))[0].decode()
        box = {k: m.group(1) for k in ("MESSAGES", "UIDNEXT", "UIDVALIDITY", "HIGHESTMODSEQ")
               for m in [re.search(k + r" (\d+)", st)] if m}
        check("EXAMINE " + name, c.select(quote(name), readonly=True))
        box["messages"] = fetch_all(c, condstore)
        c.close()
        state["mailboxes"][name] = box
    c.logout()
    return state


def diff(a, b, path, out):
    if type(a) != type(b):
        out.append("%s: %r != %r" % (path, a, b))
    elif isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append("%s.%s: only on %s" % (path, k, "first" if k in a else "second"))
            else:
                diff(a[k], b[k], path + "." + k, out)
    elif isinstance(a, list) and a and isinstance(a[0], dict):
        if len(a) != len(b):
            out.append("%s: %d != %d items (uids %s / %s)"
                       % (path, len(a), len(b), [x.get("uid") for x in a],
                          [x.get("uid") for x in b]))
        for i, (x, y) in enumerate(zip(a, b)):
            diff(x, y, "%s[uid %s]" % (path, x.get("uid", i)), out)
    elif a != b:
        out.append("%s: %r != %r" % (path, a, b))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["do", "dump", "compare"])
    ap.add_argument("steps", nargs="*")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--port2", type=int)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--wait", type=float, default=0)
    a = ap.parse_intermixed_args()
    if a.cmd == "do":
        c = connect(a.port)
        c.login(a.user, a.password)
        try:
            do_steps(c, [json.loads(s) for s in a.steps])
        except RuntimeError as e:
            print(e)
            sys.exit(1)
        c.logout()
    elif a.cmd == "dump":
        print(json.dumps(dump(a.port, a.user, a.password), indent=1, sort_keys=True))
    else:
        deadline = time.time() + a.wait
        while True:
            # Only what both servers can show is compared (CONDSTORE, QUOTA).
            caps = (login_caps(a.port, a.user, a.password) &
                    login_caps(a.port2, a.user, a.password))
            one = dump(a.port, a.user, a.password, caps)
            two = dump(a.port2, a.user, a.password, caps)
            out = []
            diff(one, two, a.user, out)
            if not out:
                print("MATCH %d mailboxes, %d messages" % (
                    len(one["mailboxes"]),
                    sum(len(m["messages"]) for m in one["mailboxes"].values())))
                return
            if time.time() >= deadline:
                break
            time.sleep(0.5)
        print("\n".join(out[:40]))
        sys.exit(1)


if __name__ == "__main__":
    main()
