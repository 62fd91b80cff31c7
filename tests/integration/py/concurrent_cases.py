#!/usr/bin/env python3
"""Two IMAP sessions on one mailbox, one changing what the other still has
in its view (cases the torture test found).

Usage: concurrent_cases.py --port N

alice's INBOX must hold messages with UIDs 1 and 2, and alice a folder Work.
Prints one line per failed check and exits 1 if any failed; prints "ok
<count>" and exits 0 otherwise.
"""
import argparse
import imaplib

from casekit import check, finish




def session(port):
    c = imaplib.IMAP4("127.0.0.1", port)
    c.login("alice", "alicepw")
    c.select("INBOX")
    return c


def copy_of_expunged(port):
    """B expunges UID 1 while A still has it in view; A's COPY of it must
    not be a server error, and a COPY of 1:2 copies UID 2 alone."""
    a, b = session(port), session(port)
    b.uid("STORE", "1", "+FLAGS.SILENT", "(\\Deleted)")
    typ, data = b.uid("EXPUNGE", "1")
    check(typ == "OK", "B: UID EXPUNGE 1: %s %r" % (typ, data))
    typ, data = a.uid("COPY", "1", "Work")
    text = data[0].decode() if data and data[0] else ""
    check("SERVERBUG" not in text, "A: UID COPY 1 of an expunged message: %s %s" % (typ, text))
    typ, data = a.uid("COPY", "1:2", "Work")
    _, code = a.response("COPYUID")  # imaplib keeps the tagged line's response code
    code = code[0].decode() if code and code[0] else ""
    check(typ == "OK" and code.split()[1:2] == ["2"],
          "A: UID COPY 1:2 (1 expunged): %s %r, COPYUID %r" % (typ, data, code))
    typ, data = a.status("Work", "(MESSAGES)")
    check(typ == "OK" and b"MESSAGES 1" in data[0], "Work after the copies: %r" % data)
    a.logout()
    b.logout()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    a = ap.parse_args()
    copy_of_expunged(a.port)
    finish()


if __name__ == "__main__":
    main()
