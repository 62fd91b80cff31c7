"""Shared helpers for the integration tests' LMTP clients.

Messages are deterministic for (prefix, index): each carries an
`X-Test-Id: <prefix>-<index>` header so a test can tell which deliveries
reached the store, and every 7th one has a body line starting with "." to
exercise dot-stuffing.

smtplib.LMTP reads only one reply after DATA, but LMTP (RFC 2033) sends one
per accepted recipient; deliver() reads them all so the session stays in step.
"""
import random
import smtplib

WORDS = ("mail store replica channel rolling sync log uniqueid tombstone "
         "mailbox folder quota seen flag index record partition message").split()


def make_message(prefix, index, rcpt="alice", size=600):
    """Returns the bytes of test message `index` (about `size` bytes)."""
    r = random.Random("%s-%d" % (prefix, index))
    lines = []
    total = 0
    while total < size:
        line = " ".join(r.choice(WORDS) for _ in range(r.randint(3, 11)))
        if index % 7 == 0 and not lines:
            line = "." + line
        lines.append(line)
        total += len(line) + 2
    head = [
        "From: Sender %d <sender%d@example.com>" % (index % 10, index % 10),
        "To: %s@example.com" % rcpt,
        "Subject: test %s %d" % (prefix, index),
        "Date: Mon, 02 Nov 2026 10:%02d:%02d +0000" % (index // 60 % 60, index % 60),
        "Message-ID: <%s.%d@test.example>" % (prefix, index),
        "X-Test-Id: %s-%d" % (prefix, index),
    ]
    return ("\r\n".join(head) + "\r\n\r\n" + "\r\n".join(lines) + "\r\n").encode()


def connect(port, host="127.0.0.1", timeout=30):
    conn = smtplib.LMTP(host, port, timeout=timeout)
    code, _ = conn.ehlo("test.example")
    if code != 250:
        raise RuntimeError("LHLO refused: %d" % code)
    return conn


def deliver(conn, sender, rcpts, msg):
    """One transaction. Returns {rcpt: (code, text)}: the RCPT reply for a
    refused recipient, else that recipient's reply after the final dot."""
    result = {}
    code, text = conn.mail(sender)
    if code != 250:
        return {r: (code, text.decode(errors="replace")) for r in rcpts}
    accepted = []
    for r in rcpts:
        code, text = conn.rcpt(r)
        if code in (250, 251):
            accepted.append(r)
        else:
            result[r] = (code, text.decode(errors="replace"))
    if not accepted:
        conn.rset()
        return result
    conn.putcmd("data")
    code, text = conn.getreply()
    if code != 354:
        for r in accepted:
            result[r] = (code, text.decode(errors="replace"))
        return result
    data = smtplib.quotedata(msg.decode("latin-1")).encode("latin-1")
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    conn.send(data + b".\r\n")
    for r in accepted:
        code, text = conn.getreply()
        result[r] = (code, text.decode(errors="replace"))
    return result
