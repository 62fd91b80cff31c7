#!/usr/bin/env python3
"""Mirrors a mailbox with mbsync (isync) and checks both sides with imaplib.

Usage: mbsync_cases.py --port N --dir D [--count 1000]

Steps, as user alice/alicepw:
 1. imaplib fills INBOX with COUNT messages (every 7th \\Seen) and "Archive"
    with 3;
 2. mbsync (Sync All, Create Both, Expunge Both) mirrors both to a Maildir
    under D: every message arrives once with its flags;
 3. locally: 10 messages get \\Flagged, 5 get \\Seen, one is trashed, a new
    message is written to INBOX and a new folder "Local" gets one message;
 4. a second mbsync run pushes all of it: the server shows the flags, the
    new message, the new folder, and no longer has the trashed one;
 5. a third run reports no errors and changes nothing on either side.
Prints one line per failed check and exits 1 if any failed; prints
"ok <count>" and exits 0 otherwise.
"""
import argparse
import imaplib
import os
import re
import subprocess
import time

from casekit import check, finish

MSGID = re.compile(rb"Message-ID: <([^>]+)>", re.I)



def message(ident, subject):
    return ("From: Alice <alice@example.com>\r\n"
            "To: Bob <bob@example.com>\r\n"
            "Subject: %s\r\n"
            "Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n"
            "Message-ID: <%s>\r\n"
            "\r\n"
            "Body of %s.\r\n" % (subject, ident, ident)).encode()


def connect(port):
    c = imaplib.IMAP4("127.0.0.1", port)
    c.login("alice", "alicepw")
    return c


def server_state(port):
    """{folder: {message-id: (uid, sorted flags)}} for every folder."""
    c = connect(port)
    state = {}
    typ, lines = c.list('""', "*")
    names = []
    for line in lines:
        m = re.match(rb'\(([^)]*)\) "(.)" "?([^"]*)"?$', line)
        names.append(m.group(3).decode())
    for name in names:
        typ, data = c.select('"%s"' % name, readonly=True)
        box = {}
        if int(data[0]) > 0:
            typ, data = c.uid("FETCH", "1:*",
                              "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            for item in data:
                if not isinstance(item, tuple):
                    continue
                uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
                flags = re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).split()
                flags = tuple(sorted(f.decode() for f in flags if f != b"\\Recent"))
                box[MSGID.search(item[1]).group(1).decode()] = (uid, flags)
        state[name] = box
    c.logout()
    return state


def maildir_files(root):
    """{relative path: message-id} of every message file under `root`."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        if os.path.basename(dirpath) not in ("cur", "new"):
            continue
        for f in files:
            path = os.path.join(dirpath, f)
            with open(path, "rb") as fh:
                m = MSGID.search(fh.read())
            out[os.path.relpath(path, root)] = m.group(1).decode() if m else ""
    return out


def run_mbsync(rc, what):
    r = subprocess.run(["mbsync", "-c", rc, "-a"], capture_output=True, text=True,
                       timeout=600)
    check(r.returncode == 0, "%s: mbsync exit %d\n%s%s" % (what, r.returncode, r.stdout,
                                                            r.stderr))
    bad = [l for l in r.stderr.splitlines() + r.stdout.splitlines()
           if re.search(r"error|warning|unexpected|fail", l, re.I)]
    check(not bad, "%s: mbsync complained: %s" % (what, bad))
    return r


def find(files, ident):
    for path, mid in files.items():
        if mid == ident:
            return path
    return None


def set_local_flags(root, path, add):
    """Adds maildir flag letters to the message file at root/path."""
    base = os.path.basename(path)
    name, _, flags = base.partition(":2,")
    flags = "".join(sorted(set(flags) | set(add)))
    new = os.path.join(root, os.path.dirname(path).replace("new", "cur"), name + ":2," + flags)
    os.rename(os.path.join(root, path), new)


def deliver_local(folder, ident):
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
    name = "%d.%d_0.replimail-test" % (int(time.time()), os.getpid()) + ident.split("@")[0]
    with open(os.path.join(folder, "tmp", name), "wb") as f:
        f.write(message(ident, "written locally"))
    os.rename(os.path.join(folder, "tmp", name), os.path.join(folder, "new", name))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--count", type=int, default=1000)
    a = ap.parse_args()

    c = connect(a.port)
    for i in range(1, a.count + 1):
        flags = "(\\Seen)" if i % 7 == 0 else None
        typ, _ = c.append("INBOX", flags, None, message("%d@example.com" % i, "message %d" % i))
        check(typ == "OK", "append %d" % i)
    c.create("Archive")
    for i in range(1, 4):
        c.append("Archive", None, None, message("a%d@example.com" % i, "archived %d" % i))
    c.logout()

    mail = os.path.join(a.dir, "mail")
    os.makedirs(mail, exist_ok=True)
    rc = os.path.join(a.dir, "mbsyncrc")
    with open(rc, "w") as f:
        f.write("IMAPAccount srv\nHost 127.0.0.1\nPort %d\nUser alice\nPass alicepw\n"
                "SSLType None\nAuthMechs LOGIN PLAIN\n\n"
                "IMAPStore remote\nAccount srv\n\n"
                "MaildirStore local\nPath %s/\nInbox %s/INBOX\nSubFolders Verbatim\n\n"
                "Channel mirror\nFar :remote:\nNear :local:\nPatterns *\n"
                "Sync All\nCreate Both\nExpunge Both\nSyncState *\n" % (a.port, mail, mail))

    run_mbsync(rc, "first run")
    files = maildir_files(mail)
    inbox = {p: m for p, m in files.items() if p.startswith("INBOX/")}
    check(len(inbox) == a.count, "INBOX mirrored: %d files" % len(inbox))
    check(len(set(inbox.values())) == a.count, "INBOX mirrored once each")
    archive = [p for p in files if p.startswith("Archive/")]
    check(len(archive) == 3, "Archive mirrored: %r" % archive)
    seen = [p for p, m in inbox.items() if ":2," in p and "S" in p.split(":2,")[1]]
    check(len(seen) == a.count // 7, "\\Seen mirrored: %d" % len(seen))

    flagged = ["%d@example.com" % i for i in range(1, 11)]
    newly_seen = ["%d@example.com" % i for i in range(11, 16)]
    trashed = "16@example.com"
    for ident in flagged:
        set_local_flags(mail, find(files, ident), "F")
    for ident in newly_seen:
        set_local_flags(mail, find(files, ident), "S")
    set_local_flags(mail, find(files, trashed), "T")
    deliver_local(os.path.join(mail, "INBOX"), "local1@example.com")
    deliver_local(os.path.join(mail, "Local"), "local2@example.com")

    run_mbsync(rc, "second run")
    state = server_state(a.port)
    inbox = state.get("INBOX", {})
    for ident in flagged:
        check("\\Flagged" in inbox.get(ident, (0, ()))[1], "flag pushed for %s" % ident)
    for ident in newly_seen:
        check("\\Seen" in inbox.get(ident, (0, ()))[1], "seen pushed for %s" % ident)
    check(trashed not in inbox, "trashed message expunged on the server")
    check("local1@example.com" in inbox, "local message pushed to INBOX")
    check(len(inbox) == a.count, "INBOX on the server: %d" % len(inbox))
    check("local2@example.com" in state.get("Local", {}), "new folder pushed: %r" %
          sorted(state))
    check(len(state.get("Archive", {})) == 3, "Archive untouched")

    files = maildir_files(mail)
    check(find(files, trashed) is None, "trashed message gone locally")
    run_mbsync(rc, "third run")
    check(server_state(a.port) == state, "third run changed nothing on the server")
    check(maildir_files(mail) == files, "third run changed nothing locally")

    finish()


if __name__ == "__main__":
    main()
