#!/usr/bin/env python3
"""Drives imapd with Python's imaplib through every command it supports.

Usage: imap_cases.py --port N [--tls-port N] [--case NAME]

Users (from the harness): alice/alicepw, bob/bobpw, admin/adminpw (admin).
Prints one line per failed check and exits 1 if any failed; prints
"ok <count>" and exits 0 otherwise.
"""
import argparse
import imaplib
import os
import socket
import ssl
import time

from casekit import check, finish, ok, run_cases

# Commands this imaplib does not know.
imaplib.Commands.setdefault("LISTRIGHTS", ("AUTH", "SELECTED"))


MESSAGE = (b"From: Alice <alice@example.com>\r\n"
           b"To: Bob <bob@example.com>\r\n"
           b"Subject: hello there\r\n"
           b"Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n"
           b"Message-ID: <1@example.com>\r\n"
           b"\r\n"
           b"The body mentions zebras.\r\n")



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
    check(b'" 1-Jul-2003 08:52:37 +0000"' in blob, "internaldate %r" % blob)
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
    noop = [0]

    def cmd(data, tag, want, what):
        """Sends a bad command, checks the reply, then that NOOP still works."""
        r = raw_cmd(s, f, data, tag)
        check(any(w in r for w in want), "%s %r" % (what, r[:200]))
        noop[0] += 1
        t = "n%d" % noop[0]
        r = raw_cmd(s, f, t.encode() + b" NOOP\r\n", t)
        check(t.encode() + b" OK" in r, "usable after %s %r" % (what, r[:200]))

    r = raw_cmd(s, f, b"a1 LOGIN alice alicepw\r\n", "a1")
    check(b"a1 OK" in r, "raw login %r" % r)
    cmd(b"a2 FETCH 1 (FLAGS\r\n", "a2", [b"a2 BAD"], "unbalanced paren")
    cmd(b"a2b SEARCH (ALL))\r\n", "a2b", [b"a2b BAD"], "extra close paren")
    cmd(b"a3 LIST \"\" \"*\r\n", "a3", [b"a3 BAD"], "unterminated quote")
    cmd(b"a4 SEARCH " + b"(" * 200 + b"ALL" + b")" * 200 + b"\r\n", "a4", [b"a4 BAD"],
        "deep nesting")
    cmd(b"a4b FETCH 1 (" + b"(" * 100 + b")" * 100 + b")\r\n", "a4b", [b"a4b BAD"],
        "deep list nesting")
    cmd(b"a5 APPEND INBOX {999999999}\r\n", "a5", [b"a5 NO", b"a5 BAD"], "literal over limit")
    # A non-synchronising literal is sent anyway; the server skips it.
    cmd(b"a6 APPEND INBOX {200000+}\r\n" + b"x" * 200000 + b"\r\n", "a6", [b"a6 NO", b"a6 BAD"],
        "non-sync literal over limit")
    cmd(b"a6b LOGIN {2000000+}\r\n" + b"x" * 2000000 + b" x\r\n", "a6b", [b"a6b NO", b"a6b BAD"],
        "huge literal outside APPEND")
    cmd(b"a7 CREATE \"bad&Jjo\"\r\n", "a7", [b"a7 NO"], "bad mUTF-7")
    cmd(b"a7b CREATE \"&AOQ\"\r\n", "a7b", [b"a7b NO"], "bad mUTF-7 (unterminated)")
    cmd(b"a7c CREATE \"8bit\xc3\xa4\"\r\n", "a7c", [b"a7c NO", b"a7c BAD"],
        "bad mUTF-7 (raw 8-bit)")
    cmd(b"a8 SELECT \"Other Users/bob\"\r\n", "a8", [b"a8 NO"], "other user's mailbox")
    cmd(b"a8b STATUS \"Other Users/bob\" (MESSAGES)\r\n", "a8b", [b"a8b NO"],
        "other user's mailbox STATUS")
    cmd(b"a8c APPEND \"Other Users/bob\" {5+}\r\nhello\r\n", "a8c", [b"a8c NO"],
        "other user's mailbox APPEND")
    cmd(b"a8d DELETE \"Other Users/bob\"\r\n", "a8d", [b"a8d NO"], "other user's mailbox DELETE")
    cmd(b"a8e GETACL \"Other Users/bob\"\r\n", "a8e", [b"a8e NO"], "other user's mailbox GETACL")
    cmd(b"x" * 70000 + b"\r\n", "*", [b"BAD"], "line too long")
    cmd(b"a9 BLURDYBLOOP\r\n", "a9", [b"a9 BAD"], "unknown command")
    s.close()
    s, f = raw(a.port)
    for tag, line in (("b1", b"CREATE foo"), ("b2", b"SELECT INBOX"), ("b3", b"LIST \"\" *"),
                      ("b4", b"APPEND INBOX {3+}\r\nabc"), ("b5", b"FETCH 1 FLAGS")):
        r = raw_cmd(s, f, tag.encode() + b" " + line + b"\r\n", tag)
        check(tag.encode() + b" BAD" in r, "command before login %s %r" % (line, r))
    r = raw_cmd(s, f, b"b9 LOGIN alice alicepw\r\n", "b9")
    check(b"b9 OK" in r, "login after error %r" % r)
    s.close()


def case_multiappend_recent(a):
    s, f = raw(a.port)
    r = raw_cmd(s, f, b"m1 LOGIN alice alicepw\r\n", "m1")
    check(b"MULTIAPPEND" in r, "MULTIAPPEND advertised %r" % r)
    raw_cmd(s, f, b"m2 CREATE Multi\r\n", "m2")
    m = MESSAGE
    data = (b"m3 APPEND Multi (\\Flagged) {%d+}\r\n" % len(m) + m +
            b" \"01-Feb-2024 10:00:00 +0000\" {%d+}\r\n" % len(m) + m +
            b" {%d+}\r\n" % len(m) + m + b"\r\n")
    r = raw_cmd(s, f, data, "m3")
    check(b"m3 OK [APPENDUID " in r and b" 1:3]" in r, "multiappend %r" % r)
    # All or nothing: the second message names a bad flag.
    data = (b"m4 APPEND Multi {%d+}\r\n" % len(m) + m + b" (\\Bogus) {%d+}\r\n" % len(m) + m +
            b"\r\n")
    r = raw_cmd(s, f, data, "m4")
    check(b"m4 BAD" in r, "multiappend with a bad flag %r" % r)
    # Synchronising literals: a continuation for each message.
    s.sendall(b"m5 APPEND Multi {%d}\r\n" % len(m))
    check(f.readline().startswith(b"+"), "continuation for message 1")
    s.sendall(m + b" {%d}\r\n" % len(m))
    check(f.readline().startswith(b"+"), "continuation for message 2")
    r = raw_cmd(s, f, m + b"\r\n", "m5")
    check(b"m5 OK [APPENDUID " in r and b" 4:5]" in r, "sync multiappend %r" % r)
    s.close()

    # \Recent: EXAMINE sees and keeps it, the first SELECT takes it.
    ex = connect(a.port, "alice")
    typ, data = ex.select("Multi", readonly=True)
    check(data == [b"5"], "examine %r" % data)
    check(ex.untagged_responses.get("RECENT") == [b"5"], "examine RECENT %r" %
          ex.untagged_responses)
    c1 = connect(a.port, "alice")
    c1.select("Multi")
    check(c1.untagged_responses.get("RECENT") == [b"5"], "first select RECENT %r" %
          c1.untagged_responses)
    typ, data = c1.fetch("1", "(FLAGS INTERNALDATE)")
    check(b"\\Flagged \\Recent" in data[0], "flags %r" % data)
    typ, data = c1.fetch("2", "INTERNALDATE")
    check(b" 1-Feb-2024 10:00:00 +0000" in data[0], "internaldate %r" % data)
    c2 = connect(a.port, "alice")
    c2.select("Multi")
    check(c2.untagged_responses.get("RECENT") == [b"0"], "second select RECENT %r" %
          c2.untagged_responses)
    typ, data = c2.fetch("1:5", "FLAGS")
    check(not any(b"\\Recent" in d for d in data), "no \\Recent for session 2 %r" % data)
    ok(ex.append("Multi", None, None, MESSAGE), "append a sixth")
    c2.noop()
    check(c2.untagged_responses.get("RECENT", [])[-1:] == [b"1"], "session 2 told first %r" %
          c2.untagged_responses)
    c1.noop()
    typ, data = c1.fetch("6", "FLAGS")
    check(b"\\Recent" not in data[0], "session 1 told second %r" % data)
    for c in (ex, c1, c2):
        c.logout()


def case_big_append(a):
    """A 50 MB APPEND (imapd's memory is checked by the caller)."""
    size = 50 * 1024 * 1024
    body = b"Subject: big\r\n\r\n" + (b"y" * 998 + b"\r\n") * (size // 1000)
    c = connect(a.port, "alice")
    typ, data = c.append("INBOX", None, None, body)
    check(typ == "OK", "50 MB append %r" % data)
    c.select("INBOX")
    typ, data = c.fetch("1", "RFC822.SIZE")
    check(("RFC822.SIZE %d" % len(body)).encode() in data[0], "size %r" % data)
    c.logout()


def case_delete_user(a):
    alice = connect(a.port, "alice")
    ok(alice.create("Lists"), "create Lists")
    ok(alice.create("Lists/cooking"), "create Lists/cooking")
    ok(alice.subscribe("Lists/cooking"), "subscribe")
    ok(alice.append("Lists", None, None, MESSAGE), "append")
    alice.logout()
    adm = connect(a.port, "admin")
    ok(adm.setquota("user/alice", "(STORAGE 1000)"), "quota")
    # Cyrus 3.6 refuses a folder with children, to the admin too.
    typ, data = adm.delete("user/alice/Lists")
    check(typ == "NO" and b"[HASCHILDREN]" in data[0], "folder with children kept %r" % data)
    ok(adm.delete("user/alice/Lists/cooking"), "admin deletes the child")
    typ, data = adm.delete("user/alice/Lists")
    check(typ == "OK", "admin deletes a folder %r" % data)
    ok(adm.delete("user/alice"), "admin deletes the user")
    typ, data = adm.list('""', "user/alice*")
    check(data == [None], "user gone %r" % data)
    typ, data = adm.getquotaroot("user/alice")
    check(typ == "NO", "quota root gone %r" % data)
    adm.logout()
    alice = connect(a.port, "alice")
    typ, data = alice.lsub('""', "*")
    check(data == [None], "subscriptions gone %r" % data)
    typ, data = alice.select("INBOX")
    check(typ == "NO", "INBOX gone %r" % data)
    alice.logout()


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


def lines_until(f, tag):
    """Reads response lines up to and including the one tagged `tag`."""
    out = []
    while True:
        line = f.readline()
        if not line:
            return out
        out.append(line.rstrip(b"\r\n"))
        if line.startswith(tag.encode() + b" "):
            return out


def first_index(lines, prefix):
    for i, line in enumerate(lines):
        if line.startswith(prefix):
            return i
    return -1


def case_login(a):
    """LOGIN of every harness user, then SELECT: the realm is the servername."""
    for user in ("alice", "bob", "admin"):
        c = connect(a.port, user)
        ok(c.select("INBOX" if user != "admin" else "user/alice"), "select as " + user)
        c.logout()


def imapd_workers(master_pid):
    """PIDs of the imapd processes under master (read from /proc)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(d))
    out, todo = [], [master_pid]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            todo.append(child)
            try:
                with open("/proc/%d/comm" % child) as f:
                    if f.read().strip() == "imapd":
                        out.append(child)
            except OSError:
                pass
    return out


def status_kib(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def case_hostile_literals(a):
    """Large literals before and after login: clear refusals, and the
    worker's peak memory (VmHWM) stays near where it started."""
    mib = 1024 * 1024
    workers = imapd_workers(a.master_pid)
    check(workers, "imapd workers under master %d" % a.master_pid)
    start = max([status_kib(p, "VmRSS") for p in workers] + [0])

    # Before login, a synchronising literal over the bound is not invited.
    s, f = raw(a.port)
    s.sendall(b"s1 LOGIN {1048576}\r\n")
    r = lines_until(f, "s1")
    check(r and r[-1].startswith(b"s1 BAD [TOOBIG]") and not any(l.startswith(b"+") for l in r),
          "sync literal before login %r" % r)
    s.sendall(b"s2 NOOP\r\n")
    check(lines_until(f, "s2")[-1:] == [b"s2 OK Completed"], "usable after refusal")
    # A pushed one ends the connection: it is refused on its header, before
    # any of its bytes (the reply is read before they are sent).
    s.sendall(b"m1 NOOP {1048576+}\r\n")
    r = lines_until(f, "m1")
    check(r and r[-1].startswith(b"m1 BAD [TOOBIG] Literal size"), "pushed literal before login %r" % r)
    bye = f.readline()
    check(bye.startswith(b"* BYE [TOOBIG]"), "BYE after pushed literal %r" % bye)
    check(f.readline() == b"", "closed after BYE")
    s.close()
    # Small literals, but more than a command may hold before login (64 KiB):
    # refused at the header of the one that would pass the bound.
    s, f = raw(a.port)
    s.sendall(b"m2 NOOP")
    for _ in range(16):
        s.sendall(b" {4000+}\r\n" + b"x" * 4000)
    s.sendall(b" {4000+}\r\n")
    r = lines_until(f, "m2")
    check(r and r[-1].startswith(b"m2 BAD [TOOBIG] Command arguments total size"),
          "many literals before login %r" % r)
    check(f.readline().startswith(b"* BYE [TOOBIG]"), "BYE after many literals")
    s.close()

    # After login: literals are bounded by maxliteral, a command by
    # maxargssize; over them, NO and the bytes are skipped, not kept.
    s, f = raw(a.port)
    s.sendall(b"l1 LOGIN alice alicepw\r\n")
    check(lines_until(f, "l1")[-1].startswith(b"l1 OK"), "login")
    s.sendall(b"p1 NOOP {1048576+}\r\n")
    for _ in range(127):
        s.sendall(b"x" * mib + b" {1048576+}\r\n")
    s.sendall(b"x" * mib + b"\r\np2 NOOP {2097152+}\r\n" + b"y" * (2 * mib) + b"\r\n")
    r = lines_until(f, "p1")
    check(r and r[-1].startswith(b"p1 NO [TOOBIG] Command arguments total size exceeds"),
          "128 MiB command after login %r" % r)
    r = lines_until(f, "p2")
    check(r and r[-1].startswith(b"p2 NO [TOOBIG] Literal size exceeds fixed limit"),
          "literal over maxliteral %r" % r)
    s.sendall(b"p3 NOOP\r\n")
    check(lines_until(f, "p3")[-1:] == [b"p3 OK Completed"], "usable after refusals")
    peak = max([status_kib(p, "VmHWM") for p in imapd_workers(a.master_pid)] + [0])
    # maxargssize is 8 MiB: one command's bytes, a copy while it grows, and
    # slack; 128 MiB were sent.
    check(peak - start < 40 * 1024, "imapd peak RSS %d KiB, started at %d KiB" % (peak, start))
    s.close()


def case_response_order(a):
    """RFC 3501 §6.1.3 and §7.2.6, checked line by line on raw sockets:
    nothing but the tagged OK after BYE, and a new keyword announced by
    FLAGS (and PERMANENTFLAGS) before any FETCH shows it."""
    b = connect(a.port, "bob")
    for _ in range(2):
        ok(b.append("INBOX", None, None, MESSAGE), "append for order")
    s, f = raw(a.port)
    s.sendall(b"o1 LOGIN bob bobpw\r\no2 SELECT INBOX\r\n")
    lines_until(f, "o1")
    sel = lines_until(f, "o2")
    check(any(l.startswith(b"o2 OK") for l in sel), "select %r" % sel)

    s.sendall(b"o3 STORE 1 +FLAGS ($Label1)\r\n")
    r = lines_until(f, "o3")
    flags, perm = first_index(r, b"* FLAGS ("), first_index(r, b"* OK [PERMANENTFLAGS (")
    fetch = first_index(r, b"* 1 FETCH (FLAGS (")
    check(fetch >= 0 and b"$Label1" in r[fetch], "own STORE FETCH %r" % r)
    check(0 <= flags < perm < fetch, "own new keyword: FLAGS, PERMANENTFLAGS, FETCH %r" % r)
    check(flags >= 0 and b"$Label1" in r[flags] and b"$Label1" in r[perm],
          "own new keyword in FLAGS and PERMANENTFLAGS %r" % r)
    s.sendall(b"o4 STORE 2 +FLAGS ($Label1)\r\n")
    r = lines_until(f, "o4")
    check(first_index(r, b"* FLAGS") < 0, "a known keyword is not announced again %r" % r)

    # Another session adds a keyword: announced at the next NOOP, first.
    ok(b.select("INBOX"), "select in second session")
    ok(b.store("1", "+FLAGS", "($Label2)"), "second session adds $Label2")
    s.sendall(b"o5 NOOP\r\n")
    r = lines_until(f, "o5")
    flags, fetch = first_index(r, b"* FLAGS ("), first_index(r, b"* 1 FETCH (")
    check(fetch >= 0 and b"$Label2" in r[fetch], "other session's FETCH %r" % r)
    check(0 <= flags < fetch and b"$Label2" in r[flags],
          "other session's new keyword: FLAGS before FETCH %r" % r)

    # Pending changes of the selected mailbox are not reported after BYE.
    ok(b.append("INBOX", None, None, MESSAGE), "append before logout")
    ok(b.store("1", "+FLAGS", "(\\Flagged)"), "store before logout")
    s.sendall(b"o6 LOGOUT\r\n")
    r = lines_until(f, "o6")
    bye = first_index(r, b"* BYE")
    check(bye >= 0 and r[bye + 1:] == [r[-1]] and r[-1].startswith(b"o6 OK"),
          "after BYE only the tagged OK %r" % r)
    check(f.readline() == b"", "connection closed after LOGOUT")
    s.close()
    b.logout()


CASES = {
    "basic": case_basic,
    "mailboxes": case_mailboxes,
    "messages": case_messages,
    "concurrency": case_concurrency,
    "acl_quota": case_acl_quota,
    "bad_input": case_bad_input,
    "multiappend_recent": case_multiappend_recent,
    "tls": case_tls,
    "big_append": case_big_append,
    "delete_user": case_delete_user,
    "response_order": case_response_order,
    "login": case_login,
    "hostile_literals": case_hostile_literals,
}

# Cases that need a configuration of their own; run only when named.
SPECIAL = ("tls", "big_append", "delete_user", "response_order", "hostile_literals")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tls-port", type=int, default=0)
    ap.add_argument("--master-pid", type=int, default=0)
    ap.add_argument("--case", action="append")
    a = ap.parse_args()
    run_cases(CASES, a.case or [n for n in CASES if n not in SPECIAL], a)
    finish()


if __name__ == "__main__":
    main()
