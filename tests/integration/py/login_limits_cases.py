"""Login limits through imapd, pop3d, lmtpd (AUTH) and sync_server; prints
one JSON object of the answers seen.

usage: login_limits_cases.py --imap P --pop3 P --lmtp P --csync P

The instance runs with maxlogins_per_user: 2, maxloginfailures_per_user: 2,
maxloginfailures_per_host: 4 (users alice, bob, carol; passwords <user>pw).
Steps: two IMAP sessions of alice, a third IMAP and a POP3 login (refused),
one logs out, the third again (accepted); two bad LOGINs for carol, then
carol with her password (refused) and bob (accepted); two bad LOGINs for bob
(the host reaches its budget), then alice in IMAP, POP3, LMTP AUTH and
csync AUTHENTICATE (all refused).
"""
import argparse
import base64
import imaplib
import json
import poplib
import smtplib

from casekit import Csync


def imap_login(port, user, password):
    m = imaplib.IMAP4("127.0.0.1", port)
    try:
        typ, data = m.login(user, password)
        return m, "%s %s" % (typ, data[-1].decode())
    except imaplib.IMAP4.error as e:
        m.shutdown()
        text = e.args[0]
        return None, "NO " + (text.decode() if isinstance(text, bytes) else str(text))


def pop_login(port, user, password):
    p = poplib.POP3("127.0.0.1", port, timeout=30)
    try:
        p.user(user)
        return p.pass_(password).decode()
    except poplib.error_proto as e:
        return e.args[0].decode()
    finally:
        try:
            p.quit()
        except Exception:
            pass


def lmtp_auth(port, user, password):
    c = smtplib.LMTP("127.0.0.1", port)
    c.ehlo("client.example")
    plain = base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()
    code, text = c.docmd("AUTH", "PLAIN " + plain)
    c.quit()
    return "%d %s" % (code, text.decode())


def csync_auth(port, user, password):
    c = Csync(port)
    answer = c.authenticate_plain(user, password)
    c.close()
    return answer


def main():
    ap = argparse.ArgumentParser()
    for p in ("imap", "pop3", "lmtp", "csync"):
        ap.add_argument("--" + p, type=int, required=True)
    a = ap.parse_args()
    out = {}

    m1, out["alice1"] = imap_login(a.imap, "alice", "alicepw")
    m2, out["alice2"] = imap_login(a.imap, "alice", "alicepw")
    m3, out["alice3"] = imap_login(a.imap, "alice", "alicepw")
    out["alice_pop_third"] = pop_login(a.pop3, "alice", "alicepw")
    m1.logout()
    m3, out["alice3_after_logout"] = imap_login(a.imap, "alice", "alicepw")
    for m in (m2, m3):
        if m:
            m.logout()

    for i in range(2):
        _, out["carol_bad%d" % i] = imap_login(a.imap, "carol", "wrong")
    _, out["carol_right"] = imap_login(a.imap, "carol", "carolpw")
    out["carol_pop_right"] = pop_login(a.pop3, "carol", "carolpw")
    m, out["bob_right"] = imap_login(a.imap, "bob", "bobpw")
    if m:
        m.logout()

    for i in range(2):
        out["bob_bad%d" % i] = pop_login(a.pop3, "bob", "wrong")
    _, out["alice_host_locked"] = imap_login(a.imap, "alice", "alicepw")
    out["alice_pop_host_locked"] = pop_login(a.pop3, "alice", "alicepw")
    out["lmtp_host_locked"] = lmtp_auth(a.lmtp, "alice", "alicepw")
    out["csync_host_locked"] = csync_auth(a.csync, "admin", "adminpw")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
