"""Scripted LMTP sessions for the bad-input tests. Each case prints one JSON
object with the replies the server gave; the C++ test judges them.

usage: lmtp_cases.py --port P CASE [args]

cases:
  malformed         garbage and out-of-order commands, then a good delivery
                    -> {"replies": {command: code}, "delivered": code}
  deliver RCPT...   one message (X-Test-Id "case-0", --size bytes) to every
                    RCPT in one transaction -> {"replies": {rcpt: [code, text]}}
"""
import argparse
import json

import lmtpkit


def malformed(conn):
    replies = {}
    for cmd in ["FROBNICATE now", "MAIL", "MAIL TO:<a@example.com>",
                "RCPT TO:<alice>", "DATA", "LHLO", "MAIL FROM:<a@example.com> BOGUS=1",
                "RSET", "NOOP", "X" * 2000, "MAIL FROM:<a@example.com>",
                "MAIL FROM:<b@example.com>", "RCPT TO:", "RCPT TO:<>", "RSET"]:
        conn.putcmd(cmd)
        code, _ = conn.getreply()
        replies[cmd if len(cmd) < 100 else "long line"] = code
    res = lmtpkit.deliver(conn, "sender@example.com", ["alice"],
                          lmtpkit.make_message("case", 0))
    return {"replies": replies, "delivered": res["alice"][0]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--size", type=int, default=600)
    ap.add_argument("case", choices=["malformed", "deliver"])
    ap.add_argument("rcpts", nargs="*")
    a = ap.parse_args()

    conn = lmtpkit.connect(a.port)
    if a.case == "malformed":
        out = malformed(conn)
    else:
        msg = lmtpkit.make_message("case", 0, a.rcpts[0], a.size)
        res = lmtpkit.deliver(conn, "sender@example.com", a.rcpts, msg)
        out = {"replies": {r: list(v) for r, v in res.items()}}
    conn.quit()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
