#!/usr/bin/env python3
"""Drives imapd with Python's imaplib through every command it supports.

Usage: imap_cases.py --port N [--tls-port N] [--case NAME]

Users (from the harness): alice/alicepw, bob/bobpw, admin/adminpw (admin).
Prints one line per failed check and exits 1 if any failed; prints
"ok <count>" and exits 0 otherwise.
"""
import argparse
import imaplib
import socket
import ssl
import sys
import time

# Commands this imaplib does not know.
imaplib.Commands.setdefault("LISTRIGHTS", ("AUTH", "SELECTED"))

FAILURES = []
CHECKS = [0]

MESSAGE = (b"From: Alice <alice@example.com>\r\n"
           b"To: Bob <bob@example.com>\r\n"
           b"Subject: hello there\r\n"
           b"Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n"
           b"Message-ID: <1@example.com>\r\n"
           b"\r\n"
           b"The body mentions zebras.\r\n")


def check(cond, what):
    CHECKS[0] += 1
    if not cond:
        FAILURES.append(what)
        print("FAIL: " + what, flush=True)


def ok(resp, what):
    typ, data = resp
    check(typ == "OK", "%s: %s %r" % (what, typ, data))
    return data


def connect(port, user):
    c = imaplib.IMAP4("127.0.0.1", port)
    ok(c.login(user, user + "pw"), "login " + user)
    return c


def raw(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rb")
    f.readline()
    return s, f


def raw_cmd(s, f, data, tag):
    """Sends `data`; reads up to the tagged reply (for tag "*", a "* BAD")."""
    s.sendall(data)
    want = b"* BAD" if tag == "*" else tag.encode() + b" "
    lines = []
    while True:
        line = f.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith(want):
            break
    return b"".join(lines)


def case_basic(a):
    p = a.port
    c = imaplib.IMAP4("127.0.0.1", p)
    caps = c.capabilities
    for cap in ("IMAP4REV1", "IDLE", "LITERAL+", "AUTH=PLAIN", "SASL-IR"):
        check(cap in caps, "pre-login capability " + cap)
    try:
        c.select("INBOX")
        check(False, "select before login must fail")
    except imaplib.IMAP4.error:
        check(True, "select before login")
    try:
        c.login("alice", "wrong")
        check(False, "bad password accepted")
    except imaplib.IMAP4.error:
        check(True, "bad password")
    ok(c.login("alice", "alicepw"), "login")
    typ, data = c.capability()
    check(b"CONDSTORE" in data[0] and b"QRESYNC" in data[0], "post-login caps %r" % data)
    check(c.noop()[0] == "OK", "noop")
    typ, data = c.xatom("ID", '("name" "imaplib")')
    check(typ == "OK", "ID")
    typ, data = c.namespace()
    check(typ == "OK" and b'(("" "/"))' in data[0], "namespace %r" % data)
    typ, data = c.xatom("ENABLE", "CONDSTORE")
    check(typ == "OK", "enable")
    check(c.logout()[0] == "BYE", "logout")

    # AUTHENTICATE PLAIN with an initial response (SASL-IR) and without.
    c = imaplib.IMAP4("127.0.0.1", p)
    ok(c.authenticate("PLAIN", lambda _: b"\0bob\0bobpw"), "authenticate plain")
    c.logout()


def case_mailboxes(a):
    c = connect(a.port, "alice")
    ok(c.create("Work"), "create Work")
    ok(c.create("Work/2024"), "create Work/2024")
    ok(c.create("Entw&APw-rfe"), "create mUTF-7 name")
    typ, _ = c.create("Work")
    check(typ == "NO", "create existing")
    typ, data = c.list('""', "*")
    names = b"\n".join(data)
    for n in (b'" INBOX', b'" Work', b'" Work/2024', b'" Entw&APw-rfe'):
        check(n in names, "list has %r in %r" % (n, names))
    check(b"\\HasChildren" in names, "HasChildren")
    typ, data = c.list('""', "%")
    check(b"2024" not in b"".join(data), "list % stays at top level")
    ok(c.subscribe("Work"), "subscribe")
    typ, data = c.lsub('""', "*")
    check(any(d.endswith(b' Work') for d in data), "lsub %r" % data)
    ok(c.unsubscribe("Work"), "unsubscribe")
    typ, data = c.lsub('""', "*")
    check(not any((d or b"").endswith(b' Work') for d in data),
          "lsub after unsubscribe %r" % data)
    ok(c.rename("Work", "Jobs"), "rename with children")
    typ, data = c.list('""', "Jobs*")
    check(any(b"Jobs/2024" in d for d in data), "child renamed %r" % data)
    typ, data = c.status("INBOX", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN RECENT HIGHESTMODSEQ)")
    check(typ == "OK" and b"UIDVALIDITY" in data[0], "status %r" % data)
    ok(c.delete("Jobs/2024"), "delete")
    typ, _ = c.delete("Jobs/2024")
    check(typ == "NO", "delete missing")
    ok(c._simple_command("CREATE", "Sent", "(USE (\\Sent))"), "create special-use")
    typ, data = c._simple_command("LIST", "(SPECIAL-USE)", '""', '"*"')
    lines = c.untagged_responses.pop("LIST", [])
    check(any(b"\\Sent" in l for l in lines), "list special-use %r" % lines)
    typ, data = c._simple_command("LIST", '""', '"*"', "RETURN", "(STATUS (MESSAGES))")
    st = c.untagged_responses.pop("STATUS", [])
    check(len(st) >= 3, "list-status %r" % st)
    typ, _ = c.create("bad&Jjo")
    check(typ == "NO", "bad mUTF-7 refused")
    c.logout()


def case_messages(a):
    c = connect(a.port, "alice")
    c.create("Msgs")
    typ, data = c.append("Msgs", "(\\Flagged $Work)", '"01-Jul-2003 10:52:37 +0200"', MESSAGE)
    check(typ == "OK" and b"APPENDUID" in data[0], "append %r" % data)
    ok(c.append("Msgs", None, None, b"Subject: second\r\n\r\nnothing much\r\n"), "append 2")
    typ, data = c.select("Msgs")
    check(typ == "OK" and data[0] == b"2", "select %r" % data)
    typ, data = c.fetch("1", "(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE UID)")
    blob = b"".join(x if isinstance(x, bytes) else b"".join(x) for x in data)
    check(b"\\Flagged" in blob and b"$Work" in blob, "fetch flags %r" % blob)
    check(b'"01-Jul-2003 08:52:37 +0000"' in blob, "internaldate %r" % blob)
    check(b'"hello there"' in blob, "envelope %r" % blob)
    check(b'("TEXT" "PLAIN"' in blob.upper(), "bodystructure %r" % blob)
    typ, data = c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    check(b"Subject: hello there" in data[0][1], "header.fields %r" % data)
    typ, data = c.fetch("1", "(FLAGS)")
    check(b"\\Seen" not in data[0], "peek leaves \\Seen")
    typ, data = c.fetch("1", "(BODY[TEXT]<4.4>)")
    check(data[0][1] == b"body", "partial %r" % data)
    typ, data = c.fetch("1", "(RFC822)")
    check(data[0][1] == MESSAGE, "rfc822 round trip")
    typ, data = c.fetch("1", "(FLAGS)")
    check(b"\\Seen" in data[0], "body fetch sets \\Seen %r" % data)
    typ, data = c.uid("FETCH", "1:*", "(FLAGS)")
    check(typ == "OK" and len([d for d in data if d]) == 2, "uid fetch %r" % data)
    typ, data = c.search(None, "UNSEEN")
    check(data[0] == b"2", "search unseen %r" % data)
    typ, data = c.search(None, "BODY", "zebras")
    check(data[0] == b"1", "search body %r" % data)
    typ, data = c.search(None, "FROM", "alice", "SENTSINCE", "1-Jul-2003", "LARGER", "10")
    check(data[0] == b"1", "search from/sentsince %r" % data)
    typ, data = c.search(None, "OR", "SUBJECT", "second", "KEYWORD", "$Work")
    check(data[0] == b"1 2", "search or %r" % data)
    typ, data = c.uid("SEARCH", "ALL")
    check(data[0] == b"1 2", "uid search %r" % data)
    typ, data = c.store("2", "+FLAGS", "(\\Deleted)")
    check(typ == "OK" and b"\\Deleted" in data[0], "store %r" % data)
    typ, data = c.store("1", "-FLAGS.SILENT", "(\\Flagged)")
    check(typ == "OK", "store silent")
    typ, data = c.fetch("1", "(MODSEQ)")
    check(b"MODSEQ (" in data[0], "fetch modseq %r" % data)
    typ, data = c.expunge()
    check(typ == "OK" and data[0] == b"2", "expunge %r" % data)
    ok(c.create("Arch"), "create Arch")
    typ, data = c.copy("1", "Arch")
    check(typ == "OK" and b"COPYUID" in data[0], "copy %r" % data)
    typ, data = c.copy("1", "Nowhere")
    check(typ == "NO" and b"TRYCREATE" in data[0], "copy to missing %r" % data)
    ok(c.append("Msgs", None, None, b"Subject: third\r\n\r\nx\r\n"), "append 3")
    c.noop()
    typ, data = c.uid("MOVE", "3", "Arch")
    check(typ == "OK", "uid move %r" % (data,))
    typ, data = c.status("Arch", "(MESSAGES)")
    check(b"MESSAGES 2" in data[0], "status after move %r" % data)
    c.store("1", "+FLAGS", "(\\Deleted)")
    typ, data = c.uid("EXPUNGE", "1")
    check(typ == "OK", "uid expunge %r" % data)
    ok(c.check(), "check")
    ok(c.unselect() if hasattr(c, "unselect") else c._simple_command("UNSELECT"), "unselect")
    typ, data = c.select("Arch", readonly=True)
    check(typ == "OK", "examine")
    typ, data = c.store("1", "+FLAGS", "(\\Deleted)")
    check(typ == "NO", "store in read-only %r" % data)
    ok(c.close(), "close")
    c.logout()


def case_concurrency(a):
    c1 = connect(a.port, "alice")
    c2 = connect(a.port, "alice")
    c1.create("Shared2")
    c1.select("Shared2")
    c2.select("Shared2")
    ok(c1.append("Shared2", None, None, MESSAGE), "append from session 1")
    c2.noop()
    check(c2.untagged_responses.get("EXISTS", [])[-1:] == [b"1"],
          "session 2 sees EXISTS %r" % c2.untagged_responses)
    c1.store("1", "+FLAGS", "(\\Flagged)")
    typ, data = c2.noop()
    fetches = c2.untagged_responses.pop("FETCH", [])
    check(any(b"\\Flagged" in f for f in fetches), "session 2 sees FETCH FLAGS %r" % fetches)
    # IDLE: session 2 idles, session 1 appends; the EXISTS arrives within 1s.
    tag = c2._new_tag().decode()
    c2.send(("%s IDLE\r\n" % tag).encode())
    line = c2.readline()
    check(line.startswith(b"+"), "idle continuation %r" % line)
    t0 = time.time()
    c1.append("Shared2", None, None, MESSAGE)
    c2.sock.settimeout(5)
    line = c2.readline()
    elapsed = time.time() - t0
    check(b"EXISTS" in line, "idle notification %r" % line)
    check(elapsed < 1.5, "idle notification within 1s (%.2fs)" % elapsed)
    c2.readline()  # RECENT
    c2.send(b"DONE\r\n")
    line = c2.readline()
    check(line.startswith(tag.encode() + b" OK"), "idle done %r" % line)
    c1.store("1", "+FLAGS", "(\\Deleted)")
    c1.expunge()
    c2.noop()
    check(c2.untagged_responses.get("EXPUNGE", [])[-1:] == [b"1"],
          "session 2 sees EXPUNGE %r" % c2.untagged_responses)
    c1.logout()
    c2.logout()


def case_acl_quota(a):
    bob = connect(a.port, "bob")
    typ, data = bob.select('"Other Users/alice"')
    check(typ == "NO", "bob cannot select alice's INBOX %r" % data)
    typ, data = bob.list('""', "*")
    check(not any(b"alice" in (d or b"") for d in data), "bob does not see alice %r" % data)
    typ, data = bob.append('"Other Users/alice"', None, None, MESSAGE)
    check(typ == "NO", "bob cannot append to alice")
    alice = connect(a.port, "alice")
    ok(alice.setacl("INBOX", "bob", "lrs"), "setacl")
    typ, data = alice.getacl("INBOX")
    check(b"bob lrs" in data[0], "getacl %r" % data)
    typ, data = alice.myrights("INBOX")
    check(b"lrswipkxtecdan" in data[0], "myrights %r" % data)
    typ, data = alice._simple_command("LISTRIGHTS", "INBOX", "bob")
    check(typ == "OK", "listrights")
    typ, data = bob.select('"Other Users/alice"')
    check(typ == "OK", "bob selects after setacl %r" % data)
    typ, data = bob.setacl('"Other Users/alice"', "bob", "lrswipkxtecdan")
    check(typ == "NO", "bob cannot setacl")
    ok(alice._simple_command("DELETEACL", "INBOX", "bob"), "deleteacl")
    typ, data = alice.setquota("INBOX", "(STORAGE 100)")
    check(typ == "NO", "user cannot setquota")
    adm = connect(a.port, "admin")
    ok(adm.create("user/carol"), "admin creates user")
    ok(adm.setquota("user/carol", "(STORAGE 1)"), "admin setquota")
    typ, data = adm.getquotaroot("user/carol")
    check(typ == "OK" and b"STORAGE 0 1" in b"".join(x for d in data for x in d),
          "getquotaroot %r" % data)
    ok(adm.setacl("user/carol", "alice", "lrsi"), "admin setacl")
    big = b"Subject: big\r\n\r\n" + b"x" * 900 + b"\r\n"
    ok(alice.append('"Other Users/carol"', None, None, big), "append under quota")
    typ, data = alice.append('"Other Users/carol"', None, None, big)
    check(typ == "NO" and b"OVERQUOTA" in data[0], "over quota %r" % data)
    ok(adm.delete("user/carol"), "admin deletes user")
    typ, data = adm.list('""', "user/carol*")
    check(data == [None], "user gone %r" % data)
    for c in (alice, bob, adm):
        c.logout()


def case_bad_input(a):
    s, f = raw(a.port)
    def cmd(data, tag):
        return raw_cmd(s, f, data, tag)
    r = cmd(b"a1 LOGIN alice alicepw\r\n", "a1")
    check(b"a1 OK" in r, "raw login %r" % r)
    r = cmd(b"a2 FETCH 1 (FLAGS\r\n", "a2")
    check(b"a2 BAD" in r, "unbalanced paren %r" % r)
    r = cmd(b"a3 LIST \"\" \"*\r\n", "a3")
    check(b"a3 BAD" in r, "unterminated quote %r" % r)
    r = cmd(b"a4 SEARCH " + b"(" * 200 + b"ALL" + b")" * 200 + b"\r\n", "a4")
    check(b"a4 BAD" in r, "deep nesting %r" % r)
    r = cmd(b"a5 APPEND INBOX {999999999}\r\n", "a5")
    check(b"a5 NO" in r or b"a5 BAD" in r, "literal over limit %r" % r)
    # A non-synchronising literal is sent anyway; the server skips it.
    r = cmd(b"a6 APPEND INBOX {200000+}\r\n" + b"x" * 200000 + b"\r\n", "a6")
    check(b"a6 NO" in r or b"a6 BAD" in r, "non-sync literal over limit %r" % r)
    r = cmd(b"a7 CREATE \"bad&Jjo\"\r\n", "a7")
    check(b"a7 NO" in r, "bad mUTF-7 %r" % r)
    r = cmd(b"a8 SELECT \"Other Users/bob\"\r\n", "a8")
    check(b"a8 NO" in r, "other user's mailbox %r" % r)
    r = cmd(b"x" * 70000 + b"\r\n", "*")
    check(b"BAD" in r, "line too long %r" % r[:100])
    r = cmd(b"a9 BLURDYBLOOP\r\n", "a9")
    check(b"a9 BAD" in r, "unknown command %r" % r)
    r = cmd(b"a10 NOOP\r\n", "a10")
    check(b"a10 OK" in r, "connection still usable %r" % r)
    s.close()
    s, f = raw(a.port)
    r = raw_cmd(s, f, b"b1 CREATE foo\r\n", "b1")
    check(b"b1 BAD" in r, "command before login %r" % r)
    r = raw_cmd(s, f, b"b2 LOGIN alice alicepw\r\n", "b2")
    check(b"b2 OK" in r, "login after error %r" % r)
    s.close()


def case_tls(a):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c = imaplib.IMAP4("127.0.0.1", a.port)
    check("STARTTLS" in c.capabilities, "STARTTLS offered")
    ok(c.starttls(ssl_context=ctx), "starttls")
    ok(c.login("alice", "alicepw"), "login over starttls")
    c.logout()
    c = imaplib.IMAP4_SSL("127.0.0.1", a.tls_port, ssl_context=ctx)
    ok(c.login("bob", "bobpw"), "login over imaps")
    ok(c.select("INBOX"), "select over imaps")
    c.logout()


CASES = {
    "basic": case_basic,
    "mailboxes": case_mailboxes,
    "messages": case_messages,
    "concurrency": case_concurrency,
    "acl_quota": case_acl_quota,
    "bad_input": case_bad_input,
    "tls": case_tls,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tls-port", type=int, default=0)
    ap.add_argument("--case", action="append")
    a = ap.parse_args()
    for name in a.case or [n for n in CASES if n != "tls"]:
        try:
            CASES[name](a)
        except Exception as e:  # a crash of one case is a failure, not the end
            check(False, "%s raised %r" % (name, e))
    if FAILURES:
        sys.exit(1)
    print("ok %d" % CHECKS[0])


if __name__ == "__main__":
    main()
