#!/usr/bin/env python3
"""The deterministic mail corpus shared by the benchmarks and the big tests.

Message i of seed s is always the same bytes (random.Random(s * 7919 + i)),
so replimail and the Cyrus peer get identical input in one run and across
runs. No file is downloaded; everything is made here.

Shape (per message, drawn independently):
  sizes     95.5 % "ordinary" (log-normal, median ~5 KB, mostly 2-20 KB),
            4 % with an attachment of 20-256 KB, 0.5 % with one of
            256 KB-4 MB (log-uniform), so the mean is ~15 KB and a 10,000
            message corpus holds a few messages of several MB;
  structure text/plain; multipart/alternative (text + HTML); multipart/mixed
            with an attachment (base64); mixed containing an alternative;
            a forwarded message/rfc822;
  text      charsets utf-8, iso-8859-1, windows-1252, koi8-r, iso-2022-jp;
            transfer encodings 7bit, 8bit, quoted-printable, base64;
  headers   RFC 2047 encoded Subject and display names (B and Q), folded
            Received lines, RFC 2231 encoded attachment file names.

Library:  message(seed, i, rcpt, max_size=None) -> (sender, bytes)
          internaldate(seed, i) -> Unix seconds (the message's Date:)
Command:  corpus.py -n N [--first K] [--seed S] [--rcpt USER]
                    [--max-size BYTES] (--out DIR | --stats)
          --out writes DIR/<i>.eml for i in K..K+N-1 (K = 0 by default, so
          several processes can share the work); --stats prints the size
          distribution. --max-size caps what the attachments add (a message
          may exceed it by its text part, at most ~40 KB).
"""
import argparse
import base64
import json
import os
import quopri
import random
import sys
import time
from email.header import Header

VOCABULARY = ("account agenda answer approve backup branch budget channel "
              "commit conference customer deploy draft flag folder follow "
              "index invoice issue itinerary log mailbox meeting merge minutes "
              "notes order patch project quarterly question release replica "
              "report restore review rolling schedule search server shipping "
              "slides sync team ticket tracking travel update user weekend").split()
# Words per charset: text in that charset must be encodable in it.
WORDS = {
    "utf-8": VOCABULARY + "déjà vu naïve café Zürich Ærø smörgåsbord "
             "привет мир 東京 報告 ☃ €".split(),
    "iso-8859-1": VOCABULARY + "déjà vu naïve café Zürich garçon fête "
                  "Müller Ærø".split(),
    "windows-1252": VOCABULARY + "résumé “quoted” café €uro — Straße".split(),
    "koi8-r": "отчёт встреча сервер реплика почта папка проект пятница "
              "неделя обновление журнал синхронизация".split(),
    "iso-2022-jp": "会議 報告 東京 サーバー 複製 メール 予定 資料 確認 "
                   "お願いします".split(),
}
PEOPLE = ["Ana Lima", "Ben Okoro", "Chloe Varga", "Dmitri Sokol", "Erin Walsh",
          "Farid Haddad", "Gita Rao", "Hugo Brandt", "Ines Costa", "Jun Park",
          "José Müller", "Søren Ørsted", "Анна Петрова", "山田 太郎"]
ATTACHMENTS = [("application/pdf", "report", "pdf"), ("image/png", "photo", "png"),
               ("application/zip", "archive", "zip"),
               ("application/octet-stream", "data", "bin"),
               ("image/jpeg", "scan", "jpg")]
EPOCH = 1_750_000_000


def _words(r, charset, lo, hi):
    pool = WORDS[charset]
    sep = "" if charset == "iso-2022-jp" else " "
    return sep.join(r.choices(pool, k=r.randint(lo, hi)))


def _text(r, charset, target):
    """Lines of about 60-75 characters, LF-ended, about `target` bytes."""
    out, size = [], 0
    while size < target:
        line = _words(r, charset, 6, 11)
        line = line[:1].upper() + line[1:] + "."
        out.append(line)
        size += len(line.encode("utf-8")) + 1
        if r.random() < 0.15:
            out.append("")
            size += 1
    return "\n".join(out) + "\n"


def _crlf(s):
    return s.replace("\r\n", "\n").replace("\n", "\r\n")


def _encode_header_text(r, text):
    """As is when ASCII, else RFC 2047 (B or Q) in utf-8 or iso-8859-1."""
    try:
        text.encode("ascii")
        return text
    except UnicodeEncodeError:
        pass
    charset = "utf-8"
    try:
        text.encode("iso-8859-1")
        if r.random() < 0.5:
            charset = "iso-8859-1"
    except UnicodeEncodeError:
        pass
    h = Header(text, charset, maxlinelen=10_000)
    encoded = h.encode()
    if r.random() < 0.5 and charset == "utf-8":
        # Q form by hand (email.header picks B for utf-8).
        q = quopri.encodestring(text.encode("utf-8"), header=True).decode("ascii")
        q = q.replace("?", "=3F").replace("\n", "")
        encoded = "=?utf-8?q?%s?=" % q
    return encoded


def _address(r, who):
    """(bare address, From/Cc header value) for a person."""
    local = "".join(c for c in who.split()[0].lower() if c.isascii() and c.isalpha())
    addr = "%s@example.org" % (local or "user%d" % r.randint(1, 99))
    if not who.isascii():
        return addr, "%s <%s>" % (_encode_header_text(r, who), addr)
    if r.random() < 0.3:
        return addr, '"%s" <%s>' % (who, addr)
    return addr, "%s <%s>" % (who, addr)


def _text_part(r, charset, target, subtype="plain"):
    """(headers, body) of a text part, in a transfer encoding fit for it."""
    text = _text(r, charset, target)
    if subtype == "html":
        text = "<html><body>\n<p>%s</p>\n</body></html>\n" % text.replace(
            "\n\n", "</p>\n<p>")
    raw = text.encode(charset)
    ascii_only = all(b < 128 for b in raw)
    if charset == "iso-2022-jp" or ascii_only:
        cte = "7bit"
        body = raw.decode("ascii")
    else:
        cte = r.choice(["quoted-printable", "base64", "8bit"])
        if cte == "quoted-printable":
            body = quopri.encodestring(raw).decode("ascii")
        elif cte == "base64":
            body = base64.encodebytes(raw).decode("ascii")
        else:
            body = raw.decode(charset)
    headers = ["Content-Type: text/%s; charset=%s" % (subtype, charset),
               "Content-Transfer-Encoding: %s" % cte]
    return headers, body, charset


def _attachment(r, size, i):
    ctype, stem, ext = r.choice(ATTACHMENTS)
    name = "%s-%d.%s" % (stem, i, ext)
    if r.random() < 0.2:
        fancy = "Bericht Übersicht %d.%s" % (i, ext)
        disp = "attachment;\n filename*=utf-8''" + "".join(
            chr(b) if b < 128 and (chr(b).isalnum() or chr(b) in ".-") else "%%%02X" % b
            for b in fancy.encode("utf-8"))
    else:
        disp = 'attachment; filename="%s"' % name
    data = r.randbytes(size)
    headers = ['Content-Type: %s; name="%s"' % (ctype, name),
               "Content-Disposition: %s" % disp,
               "Content-Transfer-Encoding: base64"]
    return headers, base64.encodebytes(data).decode("ascii")


def _multipart(r, subtype, parts):
    b = "=_%s-%08x" % (subtype[:3], r.getrandbits(32))
    body = "This is a multi-part message in MIME format.\n" if r.random() < 0.5 else ""
    for headers, content in parts:
        body += "--%s\n%s\n\n%s" % (b, "\n".join(headers), content)
        if not content.endswith("\n"):
            body += "\n"
    body += "--%s--\n" % b
    return ['Content-Type: multipart/%s;\n boundary="%s"' % (subtype, b)], body


def _attachment_size(r, max_size):
    roll = r.random()
    if roll < 0.005:
        size = int(2 ** r.uniform(18, 22))       # 256 KB - 4 MB
    elif roll < 0.045:
        size = int(2 ** r.uniform(14.3, 18))     # 20 KB - 256 KB
    elif roll < 0.20:
        size = r.randint(800, 9000)              # small attachment
    else:
        return 0
    if max_size is not None:
        size = min(size, max(0, (max_size * 3) // 4 - 2000))
    return size


def internaldate(seed, i):
    return EPOCH + seed * 86_400 + i * 41


def message(seed, i, rcpt="user", max_size=None):
    """(envelope sender, message bytes with CRLF line ends) of message i."""
    r = random.Random(seed * 7_919 + i)
    who = r.choice(PEOPLE)
    sender, from_header = _address(r, who)
    charset = r.choices(list(WORDS), weights=[60, 15, 10, 8, 7])[0]
    target = int(min(20_000, max(1_200, r.lognormvariate(8.4, 0.6))))
    attach = _attachment_size(r, max_size)
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(internaldate(seed, i)))
    subject = _words(r, charset if r.random() < 0.4 else "utf-8", 2, 7)
    head = [
        "Received: from relay%d.example.org (relay%d.example.org [198.51.100.%d])\n"
        "\tby mx.example.net with ESMTPS id %08X;\n\t%s" % (
            i % 5, i % 5, 1 + i % 250, r.getrandbits(32), date),
        "From: %s" % from_header,
        "To: %s <%s@example.net>" % (rcpt.capitalize(), rcpt),
        "Subject: [%d] %s" % (i, _encode_header_text(r, subject)),
        "Date: %s" % date,
        "Message-ID: <corpus.%d.%d.%08x@example.org>" % (seed, i, r.getrandbits(32)),
    ]
    if r.random() < 0.3:
        head.append("Cc: %s" % _address(r, r.choice(PEOPLE))[1])
    if r.random() < 0.2:
        head.append("In-Reply-To: <corpus.%d.%d.0@example.org>" % (seed, max(0, i - 1)))
    head.append("MIME-Version: 1.0")

    kind = r.random()
    if attach == 0 and kind < 0.55:
        headers, body, _ = _text_part(r, charset, target)
    elif attach == 0 and kind < 0.9:
        t = _text_part(r, charset, target // 2)
        h = _text_part(r, charset, target // 2, "html")
        headers, body = _multipart(r, "alternative", [(t[0], t[1]), (h[0], h[1])])
    elif attach == 0:
        inner_head = ["From: %s" % _address(r, r.choice(PEOPLE))[1],
                      "Subject: %s" % _encode_header_text(r, _words(r, "utf-8", 2, 5)),
                      "Date: %s" % date, "MIME-Version: 1.0"]
        ih, ib, _ = _text_part(r, charset, target // 2)
        inner = "\n".join(inner_head + ih) + "\n\n" + ib
        note = _text_part(r, "utf-8", 300)
        headers, body = _multipart(r, "mixed", [
            (note[0], note[1]),
            (["Content-Type: message/rfc822", "Content-Disposition: inline"], inner)])
    else:
        text = _text_part(r, charset, max(600, target // 2))
        if r.random() < 0.4:
            html = _text_part(r, charset, max(600, target // 2), "html")
            first = _multipart(r, "alternative", [(text[0], text[1]), (html[0], html[1])])
        else:
            first = (text[0], text[1])
        headers, body = _multipart(r, "mixed", [first, _attachment(r, attach, i)])
    raw = "\n".join(head + headers) + "\n\n" + body
    return sender, _crlf(raw).encode("utf-8")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, required=True)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rcpt", default="user")
    ap.add_argument("--max-size", type=int)
    ap.add_argument("--out")
    ap.add_argument("--stats", action="store_true")
    a = ap.parse_args()
    if not a.out and not a.stats:
        ap.error("--out DIR or --stats")
    sizes = []
    if a.out:
        os.makedirs(a.out, exist_ok=True)
    for i in range(a.first, a.first + a.n):
        _, data = message(a.seed, i, a.rcpt, a.max_size)
        sizes.append(len(data))
        if a.out:
            with open(os.path.join(a.out, "%d.eml" % i), "wb") as f:
                f.write(data)
    if a.stats:
        s = sorted(sizes)
        pct = lambda p: s[min(len(s) - 1, int(p * len(s)))]
        print(json.dumps({"n": a.n, "bytes": sum(s), "mean": sum(s) // max(1, len(s)),
                          "min": s[0], "p10": pct(0.1), "p50": pct(0.5), "p90": pct(0.9),
                          "p99": pct(0.99), "max": s[-1],
                          "share_2k_20k": round(sum(1 for x in s if 2048 <= x <= 20480)
                                                / len(s), 3)}))


if __name__ == "__main__":
    sys.exit(main())
