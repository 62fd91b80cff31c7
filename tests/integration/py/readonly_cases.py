"""Read-only mode seen through every protocol; prints one JSON object.

usage: readonly_cases.py --imap P --pop3 P --lmtp P --csync P --flag FILE

alice (password alicepw) has one message in INBOX. Steps: IMAP login and
SELECT INBOX while writable; FILE is created (read-only mode on); on the
open session STORE, then FETCH BODY[] (must not set \\Seen), SELECT again,
CREATE, APPEND; POP3 login, RETR 1, DELE 1; LMTP MAIL and RCPT; csync
AUTHENTICATE as admin, GET USER alice, APPLY SUB. FILE is removed (mode off);
STORE and an LMTP delivery again. Exit status 0 if nothing raised.
"""
import argparse
import imaplib
import json
import os
import poplib
import smtplib

from casekit import Csync


def imap_answer(call):
    try:
        typ, data = call()
    except imaplib.IMAP4.error as e:
        return "error: %s" % e
    text = data[-1] if data else b""
    if isinstance(text, tuple):
        text = text[0]
    return "%s %s" % (typ, text.decode(errors="replace") if text else "")


def csync(port):
    c = Csync(port)
    out = {"auth": c.authenticate_plain("admin", "adminpw")}
    out["get"] = c.command("GET USER alice")[-1]
    out["apply"] = c.command("APPLY SUB %(USERID alice MBOXNAME user.alice)")[-1]
    c.command("EXIT")
    c.close()
    return out


def lmtp_rcpt(port):
    c = smtplib.LMTP("127.0.0.1", port)
    c.ehlo("client.example")
    mail = c.mail("sender@example.com")
    code, text = c.rcpt("alice@replimail-test")
    c.quit()
    return {"mail": mail[0], "rcpt": "%d %s" % (code, text.decode())}


def main():
    ap = argparse.ArgumentParser()
    for p in ("imap", "pop3", "lmtp", "csync"):
        ap.add_argument("--" + p, type=int, required=True)
    ap.add_argument("--flag", required=True)
    a = ap.parse_args()
    out = {}

    m = imaplib.IMAP4("127.0.0.1", a.imap)
    m.login("alice", "alicepw")
    out["select_writable"] = imap_answer(lambda: m.select("INBOX"))
    with open(a.flag, "w") as f:
        f.write("fencing\n")
    out["store"] = imap_answer(lambda: m.store("1", "+FLAGS", "\\Flagged"))
    out["fetch"] = imap_answer(lambda: m.fetch("1", "(BODY[] FLAGS)"))
    out["flags_after_fetch"] = imap_answer(lambda: m.fetch("1", "(FLAGS)"))
    try:
        m.select("INBOX")
        out["select_readonly"] = False
    except imaplib.IMAP4.readonly:  # SELECT answered [READ-ONLY]
        out["select_readonly"] = True
        m.is_readonly = True
    out["create"] = imap_answer(lambda: m.create("Archive"))
    out["append"] = imap_answer(
        lambda: m.append("INBOX", None, None, b"Subject: x\r\n\r\nbody\r\n"))
    m.logout()

    p = poplib.POP3("127.0.0.1", a.pop3, timeout=30)
    p.user("alice")
    out["pop_pass"] = p.pass_("alicepw").decode()
    out["pop_retr"] = p.retr(1)[0].decode()
    try:
        out["pop_dele"] = p.dele(1).decode()
    except poplib.error_proto as e:
        out["pop_dele"] = e.args[0].decode()
    p.quit()

    out["lmtp_readonly"] = lmtp_rcpt(a.lmtp)
    out["csync"] = csync(a.csync)

    os.unlink(a.flag)
    m = imaplib.IMAP4("127.0.0.1", a.imap)
    m.login("alice", "alicepw")
    m.select("INBOX")
    out["store_after"] = imap_answer(lambda: m.store("1", "+FLAGS", "\\Flagged"))
    m.logout()
    c = smtplib.LMTP("127.0.0.1", a.lmtp)
    c.ehlo("client.example")
    failed = c.sendmail("sender@example.com", ["alice@replimail-test"],
                        b"Subject: after\r\n\r\nwritable again\r\n")
    c.quit()
    out["lmtp_after"] = "refused: %r" % failed if failed else "delivered"
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
