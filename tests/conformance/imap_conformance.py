#!/usr/bin/env python3
"""IMAP conformance: the same scripted sessions against replimail and Cyrus 3.6.

usage: imap_conformance.py --a PORT --b PORT [--admin ADMIN:PW] [--verbose]
                           SESSION.txt...
       imap_conformance.py users SESSION.txt...

"a" is replimail, "b" is the Cyrus 3.6 peer. Both must know the SASL users
the sessions use (`users` prints them, one "name:password" a line) and the
admin; every session creates its users' INBOXes as the admin first
(CREATE user/<name> on both). The session format, the normalizations and
how to add a session are in tests/conformance/README.md; the differences
a session may declare are in tests/conformance/DIFFERENCES.md (table
DIFFERENCES below, which must match it).

Every command's answer is read through imaplib's connection (its socket
reader: every untagged, continuation and tagged line, literals included),
normalized, and compared line for line. Prints one line per session
("ok", "DIFF", "SKIP <reason>"), each difference with both answers, then
a summary. Exit 0 when every session that ran agrees, 1 on a difference,
2 on an error (a server unreachable, a session file that does not parse,
a capability a session needs that Cyrus does not advertise).
"""
import argparse
import datetime
import imaplib
import os
import re
import sys
import time

HOST = "127.0.0.1"
HERE = os.path.dirname(os.path.abspath(__file__))
MIME_DIR = os.path.join(HERE, "..", "data", "mime")
TIMEOUT = 15


class SessionError(Exception):
    """The session file is malformed or a server broke the protocol."""


# The documented differences (DIFFERENCES.md). A session applies one with
# "differ ID" (to the next command) or "differ all ID" (to every later
# command of the session); each is a function over one normalized answer
# line, given replimail's capabilities, applied to both servers' lines.
def _id_params(line, caps_a):
    # D1: the ID parameters name the implementation.
    return "* ID (...)" if line.startswith("* ID ") else line


def _capability_list(line, caps_a):
    # D2: the capability lists, compared as sets (capability_report).
    line = re.sub(r"\[CAPABILITY [^\]]*\]", "[CAPABILITY ...]", line)
    return "* CAPABILITY ..." if line.startswith("* CAPABILITY ") else line


RFC5530_ADDED = ("READ-ONLY", "AUTHENTICATIONFAILED", "NONEXISTENT", "ALREADYEXISTS", "CANNOT", "NOPERM",
                 "CLIENTBUG", "INUSE", "EXPUNGEISSUED", "CONTACTADMIN", "TRYCREATE")


def _rfc5530_codes(line, caps_a):
    # D3: replimail's code (RFC 5530, or READ-ONLY) on a NO where Cyrus 3.6
    # gives none.
    m = re.match(r"^(\*|TAG) NO \[([A-Z-]+)\]$", line)
    return "%s NO" % m.group(1) if m and m.group(2) in RFC5530_ADDED else line


# Response codes of extensions only Cyrus 3.6 advertises, by the capability
# that brings them: dropped while replimail does not advertise it.
EXTENSION_CODES = {"ANNOTATIONS": "ANNOTATE-EXPERIMENT-1", "MAILBOXID": "OBJECTID",
                   "URLMECH": "URLAUTH"}


def _extension_codes(line, caps_a):
    # D4
    m = re.match(r"^(\*|TAG) (OK|NO|BAD) \[([A-Z-]+)[^\]]*\]$", line)
    if not m or EXTENSION_CODES.get(m.group(3)) in caps_a or m.group(3) not in EXTENSION_CODES:
        return line
    return None if m.group(1) == "*" else "%s %s" % (m.group(1), m.group(2))


def _silent_store(line, caps_a):
    # D5: Cyrus 3.6 answers STORE .SILENT with the untagged FETCH FLAGS
    # (and MODSEQ, with CONDSTORE enabled).
    return None if re.match(r"^\* \d+ FETCH \(FLAGS \([^()]*\)( MODSEQ \(\d+\))?\)$",
                            line) else line


def _rename_progress(line, caps_a):
    # D6: Cyrus 3.6's untagged OK per mailbox renamed with a hierarchy.
    return None if line == "* OK" else line


def _empty_enabled(line, caps_a):
    # D7: replimail answers an ENABLE that enables nothing with "* ENABLED".
    return None if line == "* ENABLED" else line


def _expunge_after_rename_inbox(line, caps_a):
    # D14: replimail reports INBOX's messages moved away by RENAME INBOX
    # to the session that has INBOX selected at once, Cyrus 3.6 later.
    return None if line.startswith("* EXPUNGE") or line.endswith(" EXPUNGE") else line


def _early_continuation(line, caps_a):
    # D8: replimail asks for every literal of a command before it answers;
    # Cyrus 3.6 refuses as soon as an argument before a literal is wrong.
    return None if line == "+" else line


def _unknown_cte(line, caps_a):
    # D10: replimail's NO [UNKNOWN-CTE] (RFC 3516 §4.2) for an encoding it
    # cannot decode; Cyrus 3.6 answers a bare NO.
    return "TAG NO" if line == "TAG NO [UNKNOWN-CTE]" else line


def _binary_append_stored(line, caps_a):
    # D11: Cyrus 3.6 stores a literal8 APPEND's binary part re-encoded in
    # base64; replimail stores the bytes as sent. BODY[...] data and
    # RFC822.SIZE of such a message differ; BINARY[...] is compared.
    if not re.match(r"^\* \d+ FETCH \(", line):
        return line
    line = re.sub(r'(BODY\[[^\]]*\](?:<\d+>)?) "(?:[^"\\]|\\.)*"', r"\1 ...", line)
    return re.sub(r"RFC822\.SIZE \d+", "RFC822.SIZE ...", line)


def _recursivematch_nonexistent(line, caps_a):
    # D9: Cyrus 3.6 marks an existing mailbox \NonExistent when LIST
    # (SUBSCRIBED RECURSIVEMATCH) returns it only for a subscribed child.
    if not (line.startswith("* LIST (") and "(CHILDINFO " in line):
        return line
    return re.sub(r"\\NonExistent ?", "", line, count=1).replace("( ", "(").replace(" )", ")")


DIFFERENCES = {
    "D1": _id_params,
    "D2": _capability_list,
    "D3": _rfc5530_codes,
    "D4": _extension_codes,
    "D5": _silent_store,
    "D6": _rename_progress,
    "D7": _empty_enabled,
    "D8": _early_continuation,
    "D9": _recursivematch_nonexistent,
    "D10": _unknown_cte,
    "D11": _binary_append_stored,
    "D14": _expunge_after_rename_inbox,
}

# Capabilities replimail advertises that Cyrus 3.6 does not (D2); any other
# capability only one side claims is reported, and only replimail's extras
# fail the run.
ONLY_REPLIMAIL_ALLOWED = {"SEARCHRES"}


# ---------------------------------------------------------------- sessions

class Step:
    def __init__(self, lineno, kind, conn, text, differ=(), user=None):
        self.lineno = lineno
        self.kind = kind      # "connect", "cmd", "raw"
        self.conn = conn
        self.text = text
        self.differ = tuple(differ)
        self.user = user


class Session:
    def __init__(self, path):
        self.path = path
        self.name = os.path.splitext(os.path.basename(path))[0]
        base = re.sub(r"[^a-z0-9]", "", self.name.lower())
        self.users = [base, base + "2"]
        self.requires = []
        self.steps = []
        self._parse()

    def password(self, user):
        return "pw" + user

    def expand(self, text):
        return (text.replace("$user2", self.users[1]).replace("$pw2", self.password(self.users[1]))
                .replace("$user", self.users[0]).replace("$pw", self.password(self.users[0])))

    def _parse(self):
        current = None
        differ = []
        self.differ_all = []
        with open(self.path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                line = line.rstrip("\n")
                where = "%s:%d" % (self.path, lineno)
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                m = re.match(r"^([a-z][a-z0-9]*)?(>>?) ?(.*)$", line)
                if m:
                    conn = m.group(1) or current
                    if conn is None:
                        raise SessionError(where + ": a command before any connect")
                    kind = "raw" if m.group(2) == ">>" else "cmd"
                    self.steps.append(Step(lineno, kind, conn, self.expand(m.group(3)),
                                           self.differ_all + differ))
                    current, differ = conn, []
                    continue
                words = line.split()
                if words[0] == "require":
                    self.requires += [w.upper() for w in words[1:]]
                elif words[0] == "differ":
                    ids = words[2:] if words[1:2] == ["all"] else words[1:]
                    for d in ids:
                        if d not in DIFFERENCES:
                            raise SessionError(where + ": unknown difference " + d)
                    if words[1:2] == ["all"]:
                        self.differ_all += ids
                    else:
                        differ += ids
                elif words[0] == "connect" and len(words) in (2, 3):
                    user = self.expand(words[2]) if len(words) == 3 else None
                    self.steps.append(Step(lineno, "connect", words[1], "",
                                           self.differ_all + differ + ["D2"], user))
                    current, differ = words[1], []
                else:
                    raise SessionError(where + ": cannot parse: " + line)
        if differ:
            raise SessionError(self.path + ": differ at the end applies to nothing")


# ----------------------------------------------------------- normalization

STATUS = re.compile(r"^(\*|[A-Za-z0-9.]+) (OK|NO|BAD|BYE|PREAUTH)\b ?(\[[^\]]*\])?(.*)$", re.S)
UIDVALIDITY = re.compile(r"(\[UIDVALIDITY |\[APPENDUID |\[COPYUID |\bUIDVALIDITY )(\d+)")
NUMBERED = [
    # Object ids (RFC 8474) are each server's own; equal stays equal.
    ("MAILBOXID", re.compile(r"(\[MAILBOXID \(|\bMAILBOXID \()([^()\s]+)")),
    ("EMAILID", re.compile(r"(\bEMAILID \()([^()\s]+)")),
    ("THREADID", re.compile(r"(\bTHREADID \()([^()\s]+)")),
    ("MODSEQ", re.compile(r"(\[HIGHESTMODSEQ |\bHIGHESTMODSEQ |\bMODSEQ \(|\(MODSEQ |\bMODSEQ )(\d+)")),
]
INTERNALDATE = re.compile(r'INTERNALDATE "([^"]+)"')
FLAG_LIST = re.compile(r"((?:\bFLAGS|\[PERMANENTFLAGS|^\* LIST|^\* LSUB|^\* XLIST) \()([^()]*)\)")


STATUS_NAME = re.compile(r'^\* STATUS ("(?:[^"\\]|\\.)*"|\S+) ')


def mailbox_key(name):
    name = name.strip()
    if name.startswith('"') and name.endswith('"'):
        name = name[1:-1]
    return "INBOX" if name.upper() == "INBOX" else name


def tokens(text):
    """IMAP data as tokens: "(", ")", ("str", bytes-as-text) for a quoted
    string or a literal (one form for both: the choice is the server's),
    and atoms (a FETCH item name with its [section]<origin> is one atom)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == " ":
            i += 1
        elif c in "()":
            out.append(c)
            i += 1
        elif c == '"':
            j, buf = i + 1, []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(text[j])
                j += 1
            out.append(("str", "".join(buf)))
            i = j + 1
        elif c == "~" and text.startswith("~{", i):
            # A literal8 (RFC 3516): kept apart from a string, since when a
            # server sends one (data with a NUL) is compared.
            m = re.match(r"~\{(\d+)\}\r\n", text[i:])
            if not m:
                out.append(c)
                i += 1
                continue
            start = i + m.end()
            out.append(("literal8", text[start:start + int(m.group(1))]))
            i = start + int(m.group(1))
        elif c == "{":
            m = re.match(r"\{(\d+)\+?\}\r\n", text[i:])
            if not m:
                out.append(c)
                i += 1
                continue
            start = i + m.end()
            out.append(("str", text[start:start + int(m.group(1))]))
            i = start + int(m.group(1))
        else:
            j, depth = i, 0
            while j < n and (depth or text[j] not in " ()"):
                if text[j] == "[":
                    depth += 1
                elif text[j] == "]":
                    depth -= 1
                j += 1
            out.append(text[i:j])
            i = j
    return out


def render(toks):
    out = []
    for t in toks:
        if isinstance(t, tuple):
            t = ("~" if t[0] == "literal8" else "") + '"%s"' % t[1].replace(
                "\\", "\\\\").replace('"', '\\"').replace("\r", "\\r").replace(
                "\n", "\\n").replace("\0", "\\0")
        if out and out[-1] != "(" and t != ")":
            out.append(" ")
        out.append(t)
    return "".join(out)


def group(toks, i):
    """The value starting at toks[i] (a list with its parentheses) and the
    index after it."""
    if toks[i] != "(":
        return toks[i:i + 1], i + 1
    depth, j = 0, i
    while j < len(toks):
        if toks[j] == "(":
            depth += 1
        elif toks[j] == ")":
            depth -= 1
            if depth == 0:
                return toks[i:j + 1], j + 1
        j += 1
    return toks[i:], len(toks)


def canonical(line):
    """A FETCH answer with its items in name order, an ESEARCH answer with
    its return data in name order (RFC 3501 and RFC 4731 leave both orders
    to the server), every string in one form."""
    toks = tokens(line)
    if (len(toks) > 3 and toks[3] == "(" and
            (toks[2] == "FETCH" or toks[1] == "STATUS")):
        # name value pairs; a value may be a list (MAILBOXID (id)).
        body, _ = group(toks, 3)
        items, i = [], 1
        while i < len(body) - 1:
            value, j = group(body, i + 1)
            items.append([body[i]] + value)
            i = j
        items.sort(key=lambda it: str(it[0]))
        return render(toks[:3] + ["("] + [t for it in items for t in it] + [")"])
    if len(toks) > 1 and toks[1] == "ESEARCH":
        i, head = 2, toks[:2]
        if len(toks) > 2 and toks[2] == "(":
            tag, i = group(toks, 2)
            head += tag
        if len(toks) > i and toks[i] == "UID":
            head.append("UID")
            i += 1
        items = []
        while i < len(toks):
            value, j = group(toks, i + 1)
            items.append([toks[i]] + value)
            i = j
        items.sort(key=lambda it: str(it[0]))
        return render(head + [t for it in items for t in it])
    return render(toks)


class Normalizer:
    """Per server: values that legitimately differ become names by order of
    first appearance, so equal stays equal and a new value shows as a new
    name: UIDVALIDITY per server, MODSEQ per mailbox (RFC 7162 orders
    mod-sequences within one mailbox only; `scope` is the mailbox a line
    is about)."""

    def __init__(self):
        self.names = {}

    def number(self, kind, value, scope):
        table = self.names.setdefault((kind, scope if kind == "MODSEQ" else None), {})
        if value not in table:
            table[value] = "%s#%d" % (kind, len(table) + 1)
        return table[value]

    def shape(self, line):
        """The line with what varies in form only made one form."""
        m = STATUS.match(line)
        if m:
            head = "%s %s" % ("*" if m.group(1) == "*" else "TAG", m.group(2))
            line = head + (" " + m.group(3) if m.group(3) else "")
        elif line.startswith("+"):
            line = "+"
        line = UIDVALIDITY.sub(lambda mm: mm.group(1) + "<uidvalidity>", line)
        if line.startswith("* ") and ("{" in line or " FETCH (" in line or
                                      line.startswith(("* ESEARCH ", "* STATUS "))):
            line = canonical(line)
        line = INTERNALDATE.sub(self._date, line)
        return FLAG_LIST.sub(lambda mm: mm.group(1) + " ".join(
            sorted(mm.group(2).split(), key=str.lower)) + ")", line)

    def numbers(self, line, scope):
        """Mod-sequences named (after the differences dropped what they
        drop, so that an extra value on one side does not shift the
        names)."""
        m = STATUS_NAME.match(line)
        if m:
            scope = mailbox_key(m.group(1))
        for kind, rx in NUMBERED:
            line = rx.sub(lambda mm, k=kind: mm.group(1) + self.number(k, mm.group(2), scope),
                          line)
        return line

    @staticmethod
    def _date(m):
        # A date the server chose (now) is not compared; one the session
        # gave in APPEND is.
        try:
            d = datetime.datetime.strptime(m.group(1).strip(), "%d-%b-%Y %H:%M:%S %z")
        except ValueError:
            return m.group(0)
        now = datetime.datetime.now(datetime.timezone.utc)
        if abs((now - d).total_seconds()) < 2 * 86400:
            return 'INTERNALDATE "<now>"'
        return m.group(0)


# ------------------------------------------------------------------ client

LITERAL_IN = re.compile(r"\{(eml|text|bin)(\+?):((?:[^}\\]|\\.)*)\}")


class Connection:
    """One IMAP connection through imaplib: imaplib opens it and reads the
    greeting; the session's lines go out through its send() and every
    answer line comes back through its readline()/read()."""

    def __init__(self, port):
        # imaplib sends CAPABILITY after the greeting (tagged with its own
        # prefix); that answer is not part of the session.
        self.imap = imaplib.IMAP4(HOST, port, timeout=TIMEOUT)
        self.greeting = self.imap.welcome.decode("latin-1")
        self.count = 0
        self.scope = None  # the mailbox last SELECTed or EXAMINEd

    def close(self):
        try:
            self.imap.shutdown()
        except OSError:
            pass

    def read_line(self):
        """One logical line: a line and the literals it announces, each as
        {n}CRLF and its bytes. None at end of stream."""
        out = b""
        while True:
            part = self.imap.readline()
            if not part:
                return None if not out else out.decode("latin-1")
            out += part
            m = re.search(rb"\{(\d+)\}\r\n$", part)
            if not m:
                return out.rstrip(b"\r\n").decode("latin-1")
            out += self.imap.read(int(m.group(1)))

    def command(self, text):
        """Sends `text` (tagged), literals as the server asks for them;
        returns the answer lines, the tagged one last."""
        self.count += 1
        tag = "C%03d" % self.count
        chunks = self._chunks(text)
        answer = []
        # One write per piece: a tag written apart from its command would
        # wait for the server's delayed ACK (Nagle), 40 ms a command.
        pending = tag.encode() + b" "
        for data, literal in chunks:
            self.imap.send(pending + data)
            pending = b""
            if literal is None:
                break
            body, sync = literal
            if sync:
                while True:
                    line = self.read_line()
                    if line is None:
                        return answer
                    answer.append(line)
                    if line.startswith("+"):
                        break
                    if line.startswith(tag + " "):
                        return answer
            pending = body
        return answer + self.read_until(tag)

    def raw(self, text):
        """Sends `text` as it is (no tag), then a NOOP tagged "S<n>" as a
        fence: the answer is every line up to the NOOP's tagged answer (the
        fence's own answer included), so no timeout decides where it ends."""
        self.count += 1
        fence = "S%03d" % self.count
        self.imap.send(text.encode("latin-1") + b"\r\n" + fence.encode() + b" NOOP\r\n")
        return self.read_until(fence)

    def read_until(self, tag):
        answer = []
        while True:
            line = self.read_line()
            if line is None:
                answer.append("<connection closed>")
                return answer
            answer.append(line)
            if line.startswith(tag + " "):
                return answer

    @staticmethod
    def _chunks(text):
        """[(bytes to send, (literal bytes, synchronizing) or None)]."""
        out, pos = [], 0
        for m in LITERAL_IN.finditer(text):
            kind, plus, arg = m.group(1), m.group(2), m.group(3)
            if kind == "eml":
                with open(os.path.join(MIME_DIR, arg), "rb") as f:
                    body = f.read()
                body = re.sub(rb"\r?\n", b"\r\n", body)
            else:
                body = arg.replace("\\n", "\r\n").replace("\\}", "}").replace(
                    "\\0", "\0").replace("\\\\", "\\").encode("utf-8")
            # {bin:...} is a literal8 (RFC 3516 ~{n}), \0 a NUL in it.
            head = text[pos:m.start()] + ("~" if kind == "bin" else "") + "{%d%s}\r\n" % (
                len(body), plus)
            out.append((head.encode("utf-8"), (body, not plus)))
            pos = m.end()
        out.append(((text[pos:] + "\r\n").encode("utf-8"), None))
        return out


def admin_login(port, admin):
    user, _, pw = admin.partition(":")
    imap = imaplib.IMAP4(HOST, port, timeout=TIMEOUT)
    imap.login(user, pw)
    return imap


def capabilities(port, admin):
    imap = admin_login(port, admin)
    try:
        typ, data = imap.capability()
        return set(data[0].decode().upper().split())
    finally:
        imap.logout()


def prepare_users(port, admin, session):
    """Removes what an earlier run left and creates the session's users'
    INBOXes, as the admin."""
    imap = admin_login(port, admin)
    try:
        for user in session.users:
            typ, data = imap._simple_command("DELETE", "user/" + user)
            typ, data = imap._simple_command("CREATE", "user/" + user)
            if typ != "OK":
                raise SessionError("CREATE user/%s as admin: %s %s" % (user, typ, data))
    except imaplib.IMAP4.error as e:
        raise SessionError("preparing users on port %d: %s" % (port, e))
    finally:
        imap.logout()


def expunged(lines):
    """The EXPUNGE answers of one command as the set of messages they
    remove, by their sequence numbers before the command: "* 2 EXPUNGE"
    twice and "* 3 EXPUNGE" then "* 2 EXPUNGE" say the same."""
    removed, out = [], []
    for line in lines:
        m = re.match(r"^\* (\d+) EXPUNGE$", line)
        if not m:
            out.append(line)
            continue
        orig = int(m.group(1))
        for r in sorted(removed):
            if r <= orig:
                orig += 1
        removed.append(orig)
    if removed:
        out.insert(0, "* EXPUNGE (messages %s before the command)"
                   % " ".join(str(r) for r in sorted(removed)))
    return out


def play(session, port, admin, caps_a):
    """Runs the session against one server: [(step, answer lines)]."""
    prepare_users(port, admin, session)
    conns = {}
    norm = Normalizer()
    out = []
    step = None
    try:
        for step in session.steps:
            if step.kind == "connect":
                if step.conn in conns:
                    conns[step.conn].close()
                c = Connection(port)
                conns[step.conn] = c
                lines = [c.greeting]
                if step.user:
                    pw = admin.partition(":")[2] if step.user == admin.partition(":")[0] \
                        else session.password(step.user)
                    lines += c.command("LOGIN %s %s" % (step.user, pw))
            else:
                c = conns.get(step.conn)
                if c is None:
                    raise SessionError("%s:%d: connection %s was never opened"
                                       % (session.path, step.lineno, step.conn))
                m = re.match(r'(?i)(?:SELECT|EXAMINE) +("(?:[^"\\]|\\.)*"|\S+)', step.text)
                if m:
                    c.scope = mailbox_key(m.group(1))
                lines = c.command(step.text) if step.kind == "cmd" else c.raw(step.text)
            lines = expunged(lines)
            lines = [norm.shape(l) for l in lines]
            for d in step.differ:
                lines = [DIFFERENCES[d](l, caps_a) for l in lines]
                lines = [l for l in lines if l is not None]
            lines = [norm.numbers(l, c.scope) for l in lines]
            # The order of untagged answers to one command is the server's
            # (RFC 3501 7: "in any order"); the tagged answer stays last.
            if lines and not lines[-1].startswith("*") and not lines[-1].startswith("+"):
                lines = sorted(lines[:-1]) + [lines[-1]]
            out.append((step, lines))
    except (OSError, imaplib.IMAP4.error) as e:
        raise SessionError("port %d, %s: %s" % (port, describe(step), e))
    finally:
        for c in conns.values():
            c.close()
    return out


def describe(step):
    if step is None:
        return "(connection failed)"
    if step.kind == "connect":
        return "connect %s%s" % (step.conn, " as " + step.user if step.user else "")
    return "%s%s %s" % (step.conn, ">" if step.kind == "cmd" else ">>", step.text[:200])


def compare(session, a, b, verbose):
    diffs = []
    for i in range(max(len(a), len(b))):
        sa, la = a[i] if i < len(a) else (None, ["<no step>"])
        sb, lb = b[i] if i < len(b) else (None, ["<no step>"])
        step = sa or sb
        if la != lb:
            diffs.append((step, la, lb))
        elif verbose:
            print("    %s:%s %s" % (session.name, step.lineno if step else "?", describe(step)))
            for l in la:
                print("      = " + l[:300])
    return diffs


def capability_report(caps_a, caps_b):
    only_a = sorted(caps_a - caps_b)
    only_b = sorted(caps_b - caps_a)
    print("capabilities both claim: %s" % " ".join(sorted(caps_a & caps_b)))
    print("capabilities only replimail claims: %s" % (" ".join(only_a) or "-"))
    print("capabilities only Cyrus claims: %s" % (" ".join(only_b) or "-"))
    return [c for c in only_a if c not in ONLY_REPLIMAIL_ALLOWED]


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "users":
        for path in sys.argv[2:]:
            s = Session(path)
            for u in s.users:
                print("%s:%s" % (u, s.password(u)))
        return 0
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", type=int, required=True, help="replimail's IMAP port")
    ap.add_argument("--b", type=int, required=True, help="Cyrus 3.6's IMAP port")
    ap.add_argument("--admin", default="admin:adminpw")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("sessions", nargs="+")
    args = ap.parse_args()
    try:
        sessions = [Session(p) for p in args.sessions]
        caps_a = capabilities(args.a, args.admin)
        caps_b = capabilities(args.b, args.admin)
    except (SessionError, OSError, imaplib.IMAP4.error) as e:
        print("error: %s" % e)
        return 2
    unexpected = capability_report(caps_a, caps_b)
    failed = errors = ran = skipped = 0
    if unexpected:
        print("DIFF capabilities only replimail claims, not in DIFFERENCES.md (D2): %s"
              % " ".join(unexpected))
        failed += 1
    for s in sessions:
        missing_b = [c for c in s.requires if c not in caps_b]
        if missing_b:
            print("%-12s ERROR Cyrus 3.6 does not advertise %s" % (s.name, " ".join(missing_b)))
            errors += 1
            continue
        missing_a = [c for c in s.requires if c not in caps_a]
        if missing_a:
            print("%-12s SKIP replimail does not advertise %s" % (s.name, " ".join(missing_a)))
            skipped += 1
            continue
        try:
            t0 = time.monotonic()
            ta = play(s, args.a, args.admin, caps_a)
            t1 = time.monotonic()
            tb = play(s, args.b, args.admin, caps_a)
            t2 = time.monotonic()
        except SessionError as e:
            print("%-12s ERROR %s" % (s.name, e))
            errors += 1
            continue
        ran += 1
        diffs = compare(s, ta, tb, args.verbose)
        if not diffs:
            print("%-12s ok (%d steps; %.1f s replimail, %.1f s Cyrus)"
                  % (s.name, len(ta), t1 - t0, t2 - t1))
            continue
        failed += 1
        print("%-12s DIFF (%d of %d steps)" % (s.name, len(diffs), len(ta)))
        for step, la, lb in diffs:
            print("  %s:%s %s" % (s.path, step.lineno if step else "?", describe(step)))
            for l in la:
                print("    replimail: " + l[:400])
            for l in lb:
                print("    cyrus:     " + l[:400])
    print("sessions: %d ran, %d differ, %d skipped, %d errors" % (ran, failed, skipped, errors))
    if errors:
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
