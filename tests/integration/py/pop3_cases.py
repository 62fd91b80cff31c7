"""Drive pop3d with Python's poplib and print one JSON object of what it saw.

usage: pop3_cases.py --port P --user alice --password pw [--tls-port P]

With --tls-port (pop3s) only the TLS steps run: CAPA, USER before STLS,
STLS, CAPA again, USER/PASS and STAT over it; then USER/PASS and STAT on the
pop3s port. Otherwise, steps: CAPA; a wrong password; USER/PASS; STAT, LIST, UIDL, RETR 1, TOP 1 0,
NOOP, DELE 1, RSET, DELE 1, QUIT; then a second session with AUTH PLAIN that
reports STAT and UIDL after the expunge; then error cases (RETR of a bad
number, a command before login). Exit status 0 if nothing raised unexpectedly.
"""
import argparse
import base64
import json
import poplib
import ssl
import sys


def error_of(call):
    try:
        return "accepted: %r" % (call(),)
    except poplib.error_proto as e:
        return e.args[0].decode()


def tls_steps(a):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    out = {}
    p = poplib.POP3("127.0.0.1", a.port, timeout=30)
    out["capa"] = sorted(p.capa().keys())
    out["user_before_stls"] = error_of(lambda: p.user(a.user))
    out["stls"] = p.stls(ctx).decode()
    out["capa_tls"] = sorted(p.capa().keys())
    out["stls_again"] = error_of(lambda: p._shortcmd("STLS"))
    p.user(a.user)
    out["pass"] = p.pass_(a.password).decode()
    out["stat"] = list(p.stat())
    out["quit"] = p.quit().decode()
    p = poplib.POP3_SSL("127.0.0.1", a.tls_port, timeout=30, context=ctx)
    out["capa_pop3s"] = sorted(p.capa().keys())
    p.user(a.user)
    out["pass_pop3s"] = p.pass_(a.password).decode()
    out["stat_pop3s"] = list(p.stat())
    p.quit()
    print(json.dumps(out))
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--tls-port", type=int, default=0)
    a = ap.parse_args()
    if a.tls_port:
        return tls_steps(a)
    out = {}

    p = poplib.POP3("127.0.0.1", a.port, timeout=30)
    out["welcome"] = p.getwelcome().decode()
    out["capa"] = sorted(p.capa().keys())
    p.user(a.user)
    try:
        p.pass_("wrong-" + a.password)
        out["bad_password"] = "accepted"
    except poplib.error_proto as e:
        out["bad_password"] = e.args[0].decode()
    p.user(a.user)
    out["pass"] = p.pass_(a.password).decode()
    out["stat"] = list(p.stat())
    resp, listing, _ = p.list()
    out["list"] = [x.decode() for x in listing]
    resp, uidls, _ = p.uidl()
    out["uidl"] = [x.decode() for x in uidls]
    resp, lines, octets = p.retr(1)
    out["retr1"] = b"\r\n".join(lines).decode(errors="replace")
    out["retr1_octets"] = octets
    resp, lines, _ = p.top(1, 0)
    out["top1"] = [x.decode(errors="replace") for x in lines]
    out["noop"] = p.noop().decode()
    out["dele"] = p.dele(1).decode()
    try:
        p.retr(1)
        out["retr_deleted"] = "accepted"
    except poplib.error_proto as e:
        out["retr_deleted"] = e.args[0].decode()
    out["rset"] = p.rset().decode()
    p.dele(1)
    out["quit"] = p.quit().decode()

    p = poplib.POP3("127.0.0.1", a.port, timeout=30)
    creds = base64.b64encode(b"\0" + a.user.encode() + b"\0" + a.password.encode()).decode()
    out["auth"] = p._shortcmd("AUTH PLAIN " + creds).decode()
    out["stat2"] = list(p.stat())
    resp, uidls, _ = p.uidl()
    out["uidl2"] = [x.decode() for x in uidls]
    try:
        p.retr(99)
        out["retr99"] = "accepted"
    except poplib.error_proto as e:
        out["retr99"] = e.args[0].decode()
    out["quit2"] = p.quit().decode()

    p = poplib.POP3("127.0.0.1", a.port, timeout=30)
    try:
        p.stat()
        out["stat_before_login"] = "accepted"
    except poplib.error_proto as e:
        out["stat_before_login"] = e.args[0].decode()
    p.quit()

    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
