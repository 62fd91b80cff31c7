#!/usr/bin/env python3
"""SORT, THREAD and ESORT on two IMAP servers holding the same mailbox
(replimail against Cyrus 3.6, issue 14): the answers must be equal.

usage: cyrus_sort_compare.py --a PORT --b PORT --user U:PW
                             [--create-b ADMIN:PW] [--seed S] [EML...]

A corpus with real threading is generated (seeded): Message-ID,
In-Reply-To and References chains, references to messages that are not
there, duplicate and missing Message-IDs, a reference loop; subjects with
Re:/Fwd:/Fw:/[list]/(fwd)/[fwd: ...] decorations and RFC 2047 words;
missing, odd and zoned dates; encoded display names and groups. It and the
EML files are APPENDed, in the same order and with the same INTERNALDATE
(some equal, so ties fall to sequence numbers), to the INBOX of user U on
both servers (--create-b creates user/U on B first, as an admin); a few
messages are flagged and one expunged on both, so sequence numbers and
UIDs part.

Then every command of COMMANDS runs on both; the untagged SORT, THREAD and
ESEARCH responses and the tagged status word (OK/NO/BAD) must be equal,
except for the commands of KNOWN_DIFFERENCES, where Cyrus 3.6 departs from
the RFC and replimail's answer is checked against what the RFC asks for.

Prints one JSON object {"messages": n, "refused_by_cyrus": [names],
"commands": n, "diffs": [{"command", "a", "b"}]} (a message Cyrus refuses
to APPEND is left out of both mailboxes); exit 0 when nothing differs, 1 otherwise, 2 on a protocol
error.
"""
import argparse
import base64
import imaplib
import json
import random
import sys
import time

from casekit import eml_messages

KEYS = ["ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO",
        "DISPLAYFROM", "DISPLAYTO", "MODSEQ", "UID"]

COMMANDS = (
    ["SORT (%s) UTF-8 ALL" % k for k in KEYS] +
    ["SORT (REVERSE %s) UTF-8 ALL" % k for k in KEYS] +
    ["UID SORT (%s) US-ASCII ALL" % k for k in KEYS] + [
        "SORT (SUBJECT DATE) UTF-8 ALL",
        "SORT (REVERSE SUBJECT REVERSE DATE) UTF-8 ALL",
        "SORT (FROM REVERSE SIZE) UTF-8 ALL",
        "SORT (DISPLAYFROM SUBJECT ARRIVAL) UTF-8 ALL",
        "SORT (CC TO) UTF-8 UNDELETED",
        "SORT (reverse arrival) utf-8 all",
        "SORT (DATE) UTF-8 SUBJECT thread",
        "SORT (SUBJECT) UTF-8 OR FROM alice FROM bob",
        "SORT (SIZE) UTF-8 2:30",
        "UID SORT (DATE) UTF-8 UID 5:40",
        "SORT (ARRIVAL) UTF-8 FLAGGED",
        "SORT (SUBJECT) UTF-8 SUBJECT nothing-matches-this",
        "SORT (DATE) ISO-FOO-1 ALL",
        "SORT (NOSUCHKEY) UTF-8 ALL",
        "SORT (REVERSE) UTF-8 ALL",
        "SORT () UTF-8 ALL",
        "SORT RETURN (COUNT) (DATE) UTF-8 ALL",
        "SORT RETURN (MIN MAX) (SUBJECT) UTF-8 ALL",
        "SORT RETURN (MIN) (REVERSE DATE) UTF-8 ALL",
        "UID SORT RETURN (MAX COUNT) (FROM) UTF-8 ALL",
        "SORT RETURN (ALL) (SUBJECT) UTF-8 ALL",
        "SORT RETURN (ALL COUNT) (ARRIVAL) UTF-8 ALL",
        "SORT RETURN () (REVERSE ARRIVAL) UTF-8 ALL",
        "UID SORT RETURN (ALL COUNT) (DATE) UTF-8 ALL",
        "SORT RETURN (COUNT ALL) (SUBJECT) UTF-8 SUBJECT nothing-matches-this",
        "THREAD ORDEREDSUBJECT UTF-8 ALL",
        "THREAD REFERENCES UTF-8 ALL",
        "THREAD REFS UTF-8 ALL",
        "UID THREAD ORDEREDSUBJECT UTF-8 ALL",
        "UID THREAD REFERENCES US-ASCII ALL",
        "UID THREAD REFS UTF-8 ALL",
        "THREAD references utf-8 UNDELETED",
        "THREAD REFERENCES UTF-8 1:25",
        "THREAD REFS UTF-8 NOT FLAGGED",
        "THREAD ORDEREDSUBJECT UTF-8 SUBJECT thread",
        "THREAD REFERENCES UTF-8 SUBJECT nothing-matches-this",
        "THREAD NOSUCHALG UTF-8 ALL",
        "THREAD REFERENCES ISO-FOO-1 ALL",
    ])


# Where replimail answers as the RFCs say and Cyrus 3.6 does not, the
# command is checked against what the RFC asks for, derived from Cyrus's
# other answers: {command: (why, check(a, b, plain_sort_of_b))}.
def _badcharset(a, b, plain):
    return a == ["NO"] and b == ["BAD"]


def _minmax(a, b, plain):
    """RFC 5267 §4.2: MIN and MAX are the lowest and highest *sorted*
    message, the first and last of the plain SORT answer; Cyrus 3.6 gives
    the smallest and largest number instead."""
    numbers = plain[0].split()[2:]
    words = a[0].split() if a else []
    want = {}
    for opt in ("MIN", "MAX"):
        if opt in words:
            want[opt] = words[words.index(opt) + 1]
    ok = all(want[o] == (numbers[0] if o == "MIN" else numbers[-1]) for o in want)
    return ok and a[-1] == b[-1] == "OK" and bool(want)


KNOWN_DIFFERENCES = {
    "SORT (DATE) ISO-FOO-1 ALL": (
        "RFC 5256 §3 / RFC 3501 §6.4.4: NO [BADCHARSET] for an unknown charset; "
        "Cyrus answers BAD Unrecognized character set", None, _badcharset),
    "THREAD REFERENCES ISO-FOO-1 ALL": (
        "as above", None, _badcharset),
    "SORT RETURN (MIN MAX) (SUBJECT) UTF-8 ALL": (
        "RFC 5267 §4.2 MIN/MAX in sort order", "SORT (SUBJECT) UTF-8 ALL", _minmax),
    "SORT RETURN (MIN) (REVERSE DATE) UTF-8 ALL": (
        "RFC 5267 §4.2 MIN/MAX in sort order", "SORT (REVERSE DATE) UTF-8 ALL", _minmax),
    "UID SORT RETURN (MAX COUNT) (FROM) UTF-8 ALL": (
        "RFC 5267 §4.2 MIN/MAX in sort order", "UID SORT (FROM) UTF-8 ALL", _minmax),
}


def b64word(text, charset="UTF-8"):
    return "=?%s?B?%s?=" % (charset, base64.b64encode(text.encode(
        "latin-1" if charset.upper().startswith("ISO-8859-1") else "utf-8")).decode())


SUBJECT_FORMS = [
    "{s}", "Re: {s}", "RE: {s}", "re:{s}", "Re: Re: {s}", "Fwd: {s}",
    "FW: {s}", "Fw: Re: {s}", "{s} (fwd)", "[fwd: {s}]", "Re: [fwd: {s}]",
    "[list] {s}", "Re: [list] {s}", "[list] Re: {s}", "Re[2]: {s}",
    "Re [3]: {s}", "  {s}  ", "{s}\t", "Re:\t{s}", "[x][y] {s}",
    "Fwd: [list] Re: {s} (fwd) (FWD)",
]

NAMES = ["alice", "Bob", "carol", "Dave", "eve", "frank", "_under", "Zed",
         "=?UTF-8?Q?J=C3=BCrgen?=", "=?ISO-8859-1?Q?=C9mile?=", "\"Smith, Anna\"",
         "=?UTF-8?Q?J=C3=A4rgen?=", "=?UTF-8?B?w4ltaWxl?=", "\"zoe\"",
         ""]
DOMAINS = ["example.org", "Example.COM", "b.example", "z.example"]

DATES = [
    "Mon, 1 Jul 2024 10:52:37 +0200",
    "Tue, 02 Jul 2024 08:00:00 -0700",
    "3 Jul 2024 23:59:59 GMT",
    "Wed, 3 Jul 2024 12:00 +0000",
    "Thu, 4 Jul 24 01:02:03 EST",
    "Fri, 5 Jul 2024 10:00:00 PDT",
    "5 Jul 2024 10:00:00 Z",
    "Sat, 6 Jul 2024 00:00:00 +1400",
    "Sun, 30 Jun 2024 17:00:00 -1200",
    "not a date at all",
    "Mon, 1 Jul 2024",
    None,
]


def address(rng):
    name = rng.choice(NAMES)
    local = rng.choice(["alice", "Bob", "carol", "dave", "eve", "frank", "x", "Z"])
    dom = rng.choice(DOMAINS)
    kind = rng.random()
    if kind < 0.08:
        return "undisclosed-recipients:;"
    if kind < 0.15:
        return "%s@%s" % (local, dom)
    if not name:
        return "<%s@%s>" % (local, dom)
    return "%s <%s@%s>" % (name, local, dom)


def generate(rng, count):
    """(name, bytes) of a corpus with threads."""
    bases = ["thread one", "Thread two", "the third", "Sorting", "apple pie",
             "Zebra", "[bracketed] base", "caf\u00e9 talk", "caf\u00eb talk",
             "\u00fcber", "", "numbers 123"]
    msgs = []
    ids = []
    for i in range(count):
        base = rng.choice(bases)
        form = rng.choice(SUBJECT_FORMS)
        subject = form.format(s=base)
        if base and not base.isascii():
            subject = form.format(s=b64word(base))
        elif rng.random() < 0.1:
            subject = form.format(s=b64word(base or "x"))
        headers = []
        if rng.random() < 0.95:
            headers.append("From: " + address(rng))
        if rng.random() < 0.9:
            headers.append("To: " + ", ".join(address(rng) for _ in range(rng.randint(1, 2))))
        if rng.random() < 0.5:
            headers.append("Cc: " + address(rng))
        if rng.random() < 0.93:
            headers.append("Subject: " + subject)
        date = rng.choice(DATES)
        if date:
            if rng.random() < 0.6 and "2024" in date:
                date = date.replace(" 10:", " %02d:" % rng.randint(0, 23))
            headers.append("Date: " + date)
        r = rng.random()
        if r < 0.05:
            pass  # no Message-ID
        elif r < 0.09 and ids:
            headers.append("Message-ID: " + rng.choice(ids))  # a duplicate
        else:
            mid = "<m%d.%d@gen.example>" % (i, rng.randint(0, 999))
            ids.append(mid)
            headers.append("Message-ID: " + mid)
        if ids and rng.random() < 0.75:
            parent = rng.choice(ids)
            how = rng.random()
            chain = [rng.choice(ids) for _ in range(rng.randint(0, 3))]
            if how < 0.3:
                headers.append("In-Reply-To: " + parent)
            elif how < 0.6:
                headers.append("References: " + " ".join(chain + [parent]))
            elif how < 0.75:
                # A reference to a message that is not in the mailbox.
                headers.append("References: <gone%d@gen.example>\r\n\t%s" % (
                    rng.randint(0, 5), parent))
            elif how < 0.85:
                headers.append("In-Reply-To: <gone%d@gen.example>" % rng.randint(0, 5))
            else:
                headers.append("References: %s %s" % (parent, " ".join(chain)))
                headers.append("In-Reply-To: " + parent)
        body = "body %d\r\n" % i + "x" * rng.randint(0, 400) + "\r\n"
        text = "\r\n".join(headers) + "\r\n\r\n" + body
        msgs.append(("gen-%d" % i, text.encode("utf-8")))
    # A reference loop: a -> b -> a.
    msgs.append(("loop-a", b"From: a@loop.example\r\nSubject: loop\r\nMessage-ID: <la@loop>\r\n"
                 b"References: <lb@loop>\r\n\r\nx\r\n"))
    msgs.append(("loop-b", b"From: b@loop.example\r\nSubject: Re: loop\r\nMessage-ID: <lb@loop>\r\n"
                 b"References: <la@loop>\r\n\r\ny\r\n"))
    return msgs


def login(port, user, password):
    imap = imaplib.IMAP4("127.0.0.1", port)
    imap.login(user, password)
    return imap


def run(imap, command):
    """The untagged SORT/THREAD/ESEARCH lines and the tagged status word."""
    tag = imap._new_tag().decode()
    imap.send(("%s %s\r\n" % (tag, command)).encode())
    lines = []
    while True:
        line = imap.readline()
        if not line:
            raise OSError("connection closed during " + command)
        line = line.rstrip(b"\r\n").decode("utf-8", "replace")
        if line.startswith(tag + " "):
            status = line.split(" ", 2)[1]
            return lines + [status]
        words = line.split(" ")
        if len(words) > 1 and words[1] in ("SORT", "THREAD", "ESEARCH"):
            lines.append(line.replace('(TAG "%s")' % tag, "(TAG)"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", type=int, required=True)
    ap.add_argument("--b", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--create-b")
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--count", type=int, default=80)
    ap.add_argument("files", nargs="*")
    args = ap.parse_args()
    user, password = args.user.split(":", 1)
    rng = random.Random(args.seed)
    messages = generate(rng, args.count)
    messages.extend(eml_messages(args.files))
    diffs = []
    skipped = []
    try:
        if args.create_b:
            admin, apw = args.create_b.split(":", 1)
            imap = login(args.b, admin, apw)
            typ, resp = imap.create("user/" + user)
            if typ != "OK":
                raise imaplib.IMAP4.error("CREATE user/%s: %r" % (user, resp))
            imap.logout()
        servers = [login(args.a, user, password), login(args.b, user, password)]
        base = 1719792000  # 1 Jul 2024 00:00 UTC
        for i, (name, data) in enumerate(messages):
            when = base + (i // 3) * 3600 * (1 if i % 2 else -1) + (i % 7) * 60
            stamp = '"%s"' % time.strftime("%d-%b-%Y %H:%M:%S +0000", time.gmtime(when))
            # A message Cyrus refuses (13_headers_only.eml) is left out of
            # both mailboxes; one only replimail refuses is an error.
            typ, resp = servers[1].append("INBOX", None, stamp, data)
            if typ != "OK":
                skipped.append(name)
                continue
            typ, resp = servers[0].append("INBOX", None, stamp, data)
            if typ != "OK":
                raise imaplib.IMAP4.error("APPEND %s: %r" % (name, resp))
        for imap in servers:
            imap.select("INBOX")
            imap.store("3,7,11,19,23,31", "+FLAGS", "\\Flagged")
            imap.store("5,13", "+FLAGS", "\\Deleted")
            imap.store("4", "+FLAGS", "\\Seen")
            imap.expunge()
        for command in COMMANDS:
            a, b = (run(imap, command) for imap in servers)
            known = KNOWN_DIFFERENCES.get(command)
            if known:
                why, plain_command, check = known
                plain = run(servers[1], plain_command) if plain_command else None
                if not check(a, b, plain):
                    diffs.append({"command": command, "a": a, "b": b, "expected": why})
            elif a != b:
                diffs.append({"command": command, "a": a, "b": b})
        for imap in servers:
            imap.logout()
    except (imaplib.IMAP4.error, OSError) as e:
        print(json.dumps({"error": str(e), "diffs": diffs}))
        return 2
    print(json.dumps({"messages": len(messages) - len(skipped), "refused_by_cyrus": skipped,
                      "commands": len(COMMANDS), "diffs": diffs}, indent=1))
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
