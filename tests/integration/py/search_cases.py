"""Full-text search end to end: varied messages in, SEARCH answers out.

usage:
  search_cases.py deliver --lmtp PORT --rcpt USER --count N [--seed S] [--start I]
      Delivers N generated messages over LMTP (numbered from --start):
      multipart, base64, quoted-printable, 8bit, HTML, attachments with
      encoded names, RFC 2047 headers, in utf-8, iso-8859-1/-15, koi8-r,
      windows-1252, shift_jis and iso-2022-jp. Prints "ok N".
  search_cases.py compare --user U --password W --queries N [--seed S]
                          PORT PORT...
      Runs N generated UID SEARCH commands on every server (same store
      behind each, or replicas of it) and compares the answers with the
      first server's. Prints one JSON object:
        {"queries": n, "nonempty": n, "differences": [...], "seconds": {port: s}}
      Exit 0 when every answer agreed.
  search_cases.py marker --lmtp PORT --rcpt USER --word W
      Delivers one small message whose subject and body hold W.
  search_cases.py search --user U --password W --port PORT CRITERIA...
      Prints the UIDs one UID SEARCH answers, space separated.
"""
import argparse
import base64
import binascii
import imaplib
import json
import random
import sys
import time
import urllib.parse

import lmtpkit

# (charset, words it can encode)
LATIN = ("café crème déjà naïve über größe façade résumé señor niño smörgåsbord "
         "Ärger Öl Übel élan").split()
RUSSIAN = "привет мир почта письмо сервер поиск индекс Москва".split()
JAPANESE = "日本語 東京 メール 検索 サーバー".split()
ASCII = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima "
         "mike november oscar papa quebec romeo sierra tango uniform victor whiskey "
         "xray yankee zulu replica channel rolling squatter tombstone mailbox quota "
         "e-mail foo.bar user@example.org 2026 C++ 50% O'Brien don't x_y").split()
CHARSETS = [("utf-8", ASCII + LATIN + RUSSIAN + JAPANESE), ("iso-8859-1", ASCII + LATIN),
            ("iso-8859-15", ASCII + LATIN), ("windows-1252", ASCII + LATIN),
            ("koi8-r", ASCII + RUSSIAN), ("shift_jis", ASCII + JAPANESE),
            ("iso-2022-jp", ASCII + JAPANESE)]
ALL_WORDS = sorted(set(ASCII + LATIN + RUSSIAN + JAPANESE))


def text(r, vocab, n):
    out = []
    for i in range(n):
        w = r.choice(vocab)
        if r.random() < 0.1:
            w = w.upper()
        elif r.random() < 0.1:
            w = w.capitalize()
        out.append(w)
        if r.random() < 0.08:
            out.append("\n")
    return " ".join(out).replace(" \n ", "\n")


def html(s):
    esc = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "<html><body><p>%s</p><style>p {color: red}</style></body></html>" % (
        esc.replace("\n", "<br>"))


def encoded_word(s, charset, r):
    """RFC 2047: base64 or Q encoding of `s` in `charset`."""
    raw = s.encode(charset, errors="replace")
    if r.random() < 0.5:
        return "=?%s?b?%s?=" % (charset, base64.b64encode(raw).decode())
    q = binascii.b2a_qp(raw, header=True).decode().replace("=\n", "").replace("?", "=3F")
    return "=?%s?q?%s?=" % (charset, q)


def leaf(r, subtype, body, charset):
    """A text part: headers and content with a random transfer encoding."""
    raw = body.replace("\n", "\r\n").encode(charset, errors="replace")
    stateful = charset in ("iso-2022-jp",)
    cte = "7bit" if stateful else r.choice(["base64", "quoted-printable", "8bit"])
    if cte == "base64":
        data = base64.encodebytes(raw).replace(b"\n", b"\r\n")
    elif cte == "quoted-printable":
        data = binascii.b2a_qp(raw).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    else:
        data = raw
    head = ("Content-Type: text/%s; charset=\"%s\"\r\nContent-Transfer-Encoding: %s\r\n\r\n"
            % (subtype, charset, cte)).encode()
    return head + data + b"\r\n"


def make_message(i, rcpt, seed):
    r = random.Random("%s-%d" % (seed, i))
    charset, vocab = r.choice(CHARSETS)
    body = text(r, vocab, r.randint(5, 80))
    kind = r.randrange(5)
    boundary = "b%d=_%d" % (i, r.randrange(10**6))
    if kind == 0:
        content = leaf(r, "plain", body, charset)
    elif kind == 1:
        content = leaf(r, "html", html(body), charset)
    else:
        parts = [leaf(r, "plain", body, charset),
                 leaf(r, "html", html(text(r, vocab, 20)), charset)]
        if kind == 4:
            name = r.choice(["report.pdf", "Résumé %d.pdf" % i, "данные.txt", "日本.doc"])
            if r.random() < 0.5:
                disp = "attachment; filename*=utf-8''%s" % urllib.parse.quote(name)
            else:
                disp = "attachment; filename=\"%s\"" % encoded_word(name, "utf-8", r)
            blob = base64.encodebytes(bytes(r.randrange(256) for _ in range(200)))
            parts.append(("Content-Type: application/octet-stream\r\nContent-Disposition: %s"
                          "\r\nContent-Transfer-Encoding: base64\r\n\r\n" % disp).encode()
                         + blob.replace(b"\n", b"\r\n"))
        sub = "alternative" if kind == 2 else "mixed"
        content = ("Content-Type: multipart/%s; boundary=\"%s\"\r\n\r\n" % (sub, boundary)
                   ).encode()
        for part in parts:
            content += b"--" + boundary.encode() + b"\r\n" + part
        content += b"--" + boundary.encode() + b"--\r\n"
    subject = text(r, vocab, r.randint(1, 6)).replace("\n", " ")
    if r.random() < 0.6:
        subject = encoded_word(subject, charset if charset != "iso-2022-jp" else "utf-8", r)
    sender = r.choice(vocab)
    display = encoded_word(sender, "utf-8", r) if r.random() < 0.5 else "Sender %d" % (i % 13)
    head = ["From: %s <sender%d@example.com>" % (display, i % 17),
            "To: %s@example.com" % rcpt,
            "Subject: %s" % subject]
    if r.random() < 0.3:
        head.append("Cc: Copy %s <cc%d@example.net>" % (r.choice(ASCII), i % 5))
    if r.random() < 0.1:
        head.append("Bcc: hidden%d@example.net" % (i % 3))
    head += ["Message-ID: <gen.%d.%s@example.com>" % (i, seed),
             "X-Mailer: gen %s" % r.choice(ASCII),
             "Date: Mon, 02 Nov 2026 10:%02d:%02d +0000" % (i // 60 % 60, i % 60),
             "MIME-Version: 1.0"]
    return ("\r\n".join(head) + "\r\n").encode() + content


def cmd_deliver(a):
    conn = lmtpkit.connect(a.lmtp)
    for i in range(a.start, a.start + a.count):
        res = lmtpkit.deliver(conn, "gen@example.com", [a.rcpt],
                              make_message(i, a.rcpt, a.seed))
        code = res[a.rcpt][0]
        if code != 250:
            print("delivery %d refused: %r" % (i, res))
            return 1
    conn.quit()
    print("ok %d" % a.count)
    return 0


def cmd_marker(a):
    msg = ("From: marker@example.com\r\nTo: %s@example.com\r\nSubject: %s\r\n\r\n"
           "The %s arrived.\r\n" % (a.rcpt, a.word, a.word)).encode()
    conn = lmtpkit.connect(a.lmtp)
    res = lmtpkit.deliver(conn, "marker@example.com", [a.rcpt], msg)
    conn.quit()
    if res[a.rcpt][0] != 250:
        print("refused: %r" % res)
        return 1
    print("ok")
    return 0


def needle(r):
    w = r.choice(ALL_WORDS)
    pick = r.randrange(7)
    if pick == 0 and len(w) > 3:
        b = r.randrange(len(w) - 2)
        w = w[b:b + r.randint(2, 4)]  # a substring inside a word
    elif pick == 1:
        w = w + " " + r.choice(ALL_WORDS)  # a phrase (rarely present)
    elif pick == 2:
        w = w.upper()
    elif pick == 3:
        w = w[: max(1, len(w) // 2)]
    return w


def criteria(r):
    """One UID SEARCH as (atoms before the literal, needle)."""
    key = r.choice(["TEXT", "BODY", "BODY", "SUBJECT", "FROM", "TO", "CC", "BCC",
                    "HEADER Message-ID", "HEADER X-Mailer"])
    n = needle(r)
    if key == "FROM" and r.random() < 0.5:
        n = "sender%d" % r.randrange(17)
    if key == "HEADER Message-ID":
        n = "gen.%d." % r.randrange(200)
    prefix = r.choice(["", "", "", "NOT ", "SEEN ", "UID 1:500 ", "OR SUBJECT alpha ",
                       "NOT BODY bravo "])
    return prefix + key, n


def uid_search(conn, atoms, n):
    conn.literal = n.encode("utf-8")
    typ, data = conn.uid("SEARCH", "CHARSET", "UTF-8", *atoms.split(" "))
    if typ != "OK":
        return "error %r" % data
    return data[0].decode().split()


def connect_imap(port, user, password):
    c = imaplib.IMAP4("127.0.0.1", int(port))
    c.login(user, password)
    typ, data = c.select("INBOX", readonly=True)
    if typ != "OK":
        raise RuntimeError("SELECT on %s: %r" % (port, data))
    return c


def cmd_compare(a):
    r = random.Random(a.seed)
    queries = [criteria(r) for _ in range(a.queries)]
    conns = [connect_imap(p, a.user, a.password) for p in a.ports]
    answers = {}
    seconds = {}
    for p, c in zip(a.ports, conns):
        t0 = time.time()
        answers[p] = [uid_search(c, atoms, n) for atoms, n in queries]
        seconds[p] = round(time.time() - t0, 3)
    diffs = []
    ref = a.ports[0]
    for p in a.ports[1:]:
        for q, x, y in zip(queries, answers[ref], answers[p]):
            if x != y:
                diffs.append("%s %r: %s has %s, %s has %s" % (q[0], q[1], ref, x[:20], p, y[:20]))
    nonempty = sum(1 for x in answers[ref] if x and not isinstance(x, str))
    errors = [q for q, x in zip(queries, answers[ref]) if isinstance(x, str)]
    print(json.dumps({"queries": len(queries), "nonempty": nonempty, "errors": errors[:5],
                      "differences": diffs[:20], "seconds": seconds}))
    for c in conns:
        c.logout()
    return 0 if not diffs and not errors else 1


def cmd_search(a):
    c = connect_imap(a.port, a.user, a.password)
    n = a.criteria[-1]
    atoms = " ".join(a.criteria[:-1])
    print(" ".join(uid_search(c, atoms, n)))
    c.logout()
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("deliver")
    d.add_argument("--lmtp", type=int, required=True)
    d.add_argument("--rcpt", required=True)
    d.add_argument("--count", type=int, required=True)
    d.add_argument("--start", type=int, default=0)
    d.add_argument("--seed", default="s1")
    c = sub.add_parser("compare")
    c.add_argument("--user", required=True)
    c.add_argument("--password", required=True)
    c.add_argument("--queries", type=int, default=100)
    c.add_argument("--seed", default="q1")
    c.add_argument("ports", nargs="+")
    m = sub.add_parser("marker")
    m.add_argument("--lmtp", type=int, required=True)
    m.add_argument("--rcpt", required=True)
    m.add_argument("--word", required=True)
    s = sub.add_parser("search")
    s.add_argument("--user", required=True)
    s.add_argument("--password", required=True)
    s.add_argument("--port", required=True)
    s.add_argument("criteria", nargs="+")
    a = p.parse_args()
    return {"deliver": cmd_deliver, "compare": cmd_compare, "search": cmd_search,
            "marker": cmd_marker}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
