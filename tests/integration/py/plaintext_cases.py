"""What a cleartext client is offered and allowed under allowplaintext: no;
prints one JSON object.

usage: plaintext_cases.py --imap P --pop3 P --lmtp P --csync P
"""
import argparse
import base64
import imaplib
import json
import poplib
import smtplib

from casekit import Csync

PLAIN = base64.b64encode(b"\0alice\0alicepw").decode()


def imap_steps(port):
    m = imaplib.IMAP4("127.0.0.1", port)
    out = {"capabilities": sorted(m.capabilities)}
    typ, data = m._simple_command("LOGIN", "alice", "alicepw")
    out["login"] = "%s %s" % (typ, data[-1].decode())
    typ, data = m._simple_command("AUTHENTICATE", "PLAIN", PLAIN)
    out["authenticate"] = "%s %s" % (typ, data[-1].decode())
    m.logout()
    return out


def pop_steps(port):
    p = poplib.POP3("127.0.0.1", port, timeout=30)
    capa = p.capa()
    out = {"capa": sorted(capa.keys()), "sasl": [m.decode() if isinstance(m, bytes) else m
                                                  for m in capa.get("SASL", [])]}
    for name, line in (("user", "USER alice"), ("auth", "AUTH PLAIN " + PLAIN)):
        try:
            out[name] = p._shortcmd(line).decode()
        except poplib.error_proto as e:
            out[name] = e.args[0].decode()
    p.quit()
    return out


def lmtp_steps(port):
    c = smtplib.LMTP("127.0.0.1", port)
    c.ehlo("client.example")
    out = {"auth_offered": c.esmtp_features.get("auth", "")}
    code, text = c.docmd("AUTH", "PLAIN " + PLAIN)
    out["auth"] = "%d %s" % (code, text.decode())
    c.quit()
    return out


def csync_steps(port):
    c = Csync(port)
    out = {"banner": c.banner, "auth": c.authenticate_plain("admin", "adminpw")}
    c.close()
    return out


def main():
    ap = argparse.ArgumentParser()
    for p in ("imap", "pop3", "lmtp", "csync"):
        ap.add_argument("--" + p, type=int, required=True)
    a = ap.parse_args()
    print(json.dumps({"imap": imap_steps(a.imap), "pop3": pop_steps(a.pop3),
                      "lmtp": lmtp_steps(a.lmtp), "csync": csync_steps(a.csync)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
