"""Pieces of bench/run-search: both systems set up for full-text search, a
loader that grows the same corpus on both, the queries, and a reference
matcher that says which side is right when their answers differ.

Search set-up (each side keeps a second IMAP endpoint without the index, so
"scan" is measured at every size even after squatter has run):
  replimail  imapd.conf gains `search_engine: xapian` and the `squatter`
             sync-log channel; a copy with `search_engine: none` serves a
             second imap service. Master re-reads both files on SIGHUP.
  Cyrus 3.6  the primary is stopped after setup.sh, its imapd.conf gains
             what Cyrus's Xapian backend requires (search_xapian.c
             check_config: `conversations: yes` and a default search tier):
             `search_engine: xapian`, `search_index_headers: yes`,
             `defaultsearchtier: t1`, `t1searchpartition-default: DIR/search`,
             the `squatter` channel; a copy with `search_engine: none` serves
             a second imap service; then it is started again. The replica is
             stopped (nothing replicates here).
"""
import email
import email.policy
import html
import imaplib
import multiprocessing as mp
import os
import re
import signal
import smtplib
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
from corpus import internaldate, message  # noqa: E402

# (name, [(key, needle), ...]) — frequencies measured on 2,000 messages of seed 1.
QUERIES = [
    ("text_most", [("TEXT", "itinerary")]),            # ASCII, ~86 %
    ("text_some", [("TEXT", "синхронизация")]),         # non-ASCII (koi8-r parts), ~5 %
    ("text_few", [("TEXT", "vu naïve café")]),         # non-ASCII phrase, ~0.1 %
    ("text_header", [("TEXT", "Haddad")]),             # ASCII, only in From/Cc, ~9 %
    ("body_most", [("BODY", "Zürich")]),               # non-ASCII, ~72 %
    ("body_some", [("BODY", "quoted")]),               # ASCII (windows-1252 parts), ~11 %
    ("subject_one", [("SUBJECT", "[777]")]),           # one message
    ("subject_some", [("SUBJECT", "itinerary")]),      # ASCII, ~7 %
    ("text_and", [("TEXT", "budget"), ("TEXT", "garçon")]),  # two-word AND, ~11 %
    ("subject_body", [("SUBJECT", "itinerary"), ("BODY", "Zürich")]),  # SUBJECT beside an indexed key
]
# Scanning 100,000 messages takes minutes per query (and Cyrus's indexed
# answers take about as long): above BIG messages only these are scanned, and
# every query runs once per side.
BIG = 50000
BIG_SCAN = ["text_most", "subject_some"]
# What --quick asks.
QUICK = ["text_most", "text_some", "text_few", "subject_some"]


def command(keys):
    """UID SEARCH with every needle as a LITERAL+ (both servers advertise it)."""
    parts = ["UID SEARCH CHARSET UTF-8"]
    for key, needle in keys:
        parts.append("%s {%d+}\r\n%s" % (key, len(needle.encode()), needle))
    return " ".join(parts)


def uid_search(session, keys):
    """(seconds, sorted UIDs) of one UID SEARCH on a RawImap session."""
    t0 = time.monotonic()
    _, _, found, _ = session.command(command(keys))
    return time.monotonic() - t0, sorted(int(x) for x in found)


def open_session(port):
    s = bl.imap_session(port)
    s.command("EXAMINE INBOX")
    return s


# ------------------------------------------------------------------ loading

def _load_worker(ports, first, n, conns, k, seed, out):
    done, failed = 0, 0
    links = [smtplib.LMTP("127.0.0.1", p, timeout=300) for p in ports]
    for link in links:
        link.ehlo_or_helo_if_needed()
    for i in range(first + k, first + n, conns):
        sender, msg = message(seed, i, bl.USER)
        for link in links:
            try:
                refused = link.sendmail(sender, [bl.USER], msg)
            except smtplib.SMTPResponseException as e:
                refused = {bl.USER: (e.smtp_code, e.smtp_error)}
            if refused:
                failed += 1
                print("message %d refused: %r" % (i, refused), file=sys.stderr)
            else:
                done += 1
    for link in links:
        link.quit()
    out.put((done, failed))


def load(ports, first, n, conns, seed):
    """Delivers corpus messages first..first+n-1 (seed) to USER on every LMTP
    port, in order per connection: each message is made once and sent to
    every side. Returns (delivered per side, seconds)."""
    got, secs = _run_workers(_load_worker, ports, first, n, conns, seed)
    return got // len(ports), secs


def _append_worker(ports, first, n, conns, batch, k, seed, out):
    sessions = [bl.imap_session(p) for p in ports]
    done = 0
    starts = range(first + k * batch, first + n, conns * batch)
    for start in starts:
        parts = ["APPEND INBOX"]
        for i in range(start, min(start + batch, first + n)):
            _, msg = message(seed, i, bl.USER)
            date = time.strftime("%d-%b-%Y %H:%M:%S +0000",
                                 time.gmtime(internaldate(seed, i)))
            parts.append('() "%s" {%d+}\r\n%s' % (date, len(msg), msg.decode("utf-8")))
        text = " ".join(parts)
        for s in sessions:
            s.command(text)
        done += len(parts) - 1
    for s in sessions:
        s.command("LOGOUT")
    out.put((done, 0))


def append(ports, first, n, conns, seed, batch=100):
    """As load(), over IMAP: MULTIAPPEND of `batch` messages per command
    (LITERAL+), CONNS sessions per side, INTERNALDATE the corpus's."""
    return _run_workers(_append_worker, ports, first, n, conns, seed, batch)


def _guarded(target, args, out):
    try:
        target(*args, out)
    except Exception as e:  # reported to the parent, which would wait forever
        print("loader: %r" % e, file=sys.stderr)
        out.put((0, 1))


def _run_workers(target, ports, first, n, conns, seed, *extra):
    out = mp.Queue()
    procs = [mp.Process(target=_guarded,
                        args=(target, (ports, first, n, conns) + extra + (k, seed), out))
             for k in range(conns)]
    t0 = time.monotonic()
    for p in procs:
        p.start()
    got = [out.get() for _ in procs]
    for p in procs:
        p.join()
    if sum(g[1] for g in got) or any(p.exitcode for p in procs):
        raise RuntimeError("%d deliveries refused" % sum(g[1] for g in got))
    return sum(g[0] for g in got), time.monotonic() - t0


# ------------------------------------------------------------------ set-up

def _set_lines(text, lines):
    """`text` (imapd.conf) with each "key: value" of `lines` replacing the
    key's line, or appended."""
    out = text.rstrip("\n").split("\n")
    for line in lines:
        key = line.split(":", 1)[0]
        out = [x for x in out if not x.startswith(key + ":")]
        out.append(line)
    return "\n".join(out) + "\n"


def _write_like(path, text, like):
    with open(path, "w") as f:
        f.write(text)
    st = os.stat(like)
    os.chown(path, st.st_uid, st.st_gid)
    os.chmod(path, st.st_mode & 0o777)


def _chown_like(path, like):
    st = os.stat(like)
    os.chown(path, st.st_uid, st.st_gid)


def _add_service(cyrus_conf, name, cmd, port):
    with open(cyrus_conf) as f:
        text = f.read()
    at = text.index("SERVICES {") + len("SERVICES {\n")
    entry = '  %s cmd="%s" listen="127.0.0.1:%d" prefork=0\n' % (name, cmd, port)
    with open(cyrus_conf, "w") as f:
        f.write(text[:at] + entry + text[at:])


def setup_replimail(primary):
    """Turns the started benchlib primary into a search instance; returns the
    port of its imap service without the index."""
    with open(primary.conf) as f:
        text = f.read()
    with open(primary.conf, "w") as f:
        f.write(_set_lines(text, ["sync_log_channels: replica squatter",
                                  "search_engine: xapian"]))
    noindex = os.path.join(primary.dir, "etc", "imapd-noindex.conf")
    with open(noindex, "w") as f:
        f.write(_set_lines(text, ["search_engine: none"]))
    port = bl.free_port()
    _add_service(os.path.join(primary.dir, "etc", "cyrus.conf"), "imapscan",
                 "imapd -C %s" % noindex, port)
    os.kill(primary.master_pid(), signal.SIGHUP)
    bl.wait_ports([port])
    return port


def replimail_index_dir(primary):
    return os.path.join(primary.dir, "conf", "search")


def setup_cyrus(cyrus):
    """Restarts the peer's primary as a search instance (the replica is
    stopped); returns the port of its imap service without the index."""
    d = os.path.join(cyrus.dir, "primary")
    conf = os.path.join(d, "etc", "imapd.conf")
    stop = subprocess.run([bl.PEER_HOME + "/stop.sh", cyrus.dir, "primary", "replica"],
                          env=cyrus.env, capture_output=True, text=True)
    if stop.returncode != 0:
        raise RuntimeError("cyrus stop.sh: " + stop.stderr[-2000:])
    search_dir = os.path.join(d, "search")
    os.makedirs(search_dir, exist_ok=True)
    _chown_like(search_dir, d)
    with open(conf) as f:
        text = f.read()
    common = ["conversations: yes", "sync_log_channels: replica squatter"]
    _write_like(conf, _set_lines(text, common + [
        "search_engine: xapian", "search_index_headers: yes", "defaultsearchtier: t1",
        "t1searchpartition-default: %s" % search_dir]), conf)
    noindex = os.path.join(d, "etc", "imapd-noindex.conf")
    _write_like(noindex, _set_lines(text, common + ["search_engine: none"]), conf)
    port = bl.free_port()
    _add_service(os.path.join(d, "etc", "cyrus.conf"), "imapscan",
                 "imapd -C %s -U 30" % noindex, port)
    start = subprocess.run([bl.PEER_HOME + "/start.sh", cyrus.dir, "primary"], env=cyrus.env,
                           capture_output=True, text=True)
    if start.returncode != 0:
        raise RuntimeError("cyrus start.sh: " + start.stderr[-2000:])
    bl.wait_ports([cyrus.primary["imap"], cyrus.primary["lmtp"], port])
    return port


def cyrus_squatter_argv(cyrus):
    return ["setpriv", "--reuid=cyrus", "--regid=mail", "--init-groups", "--",
            bl.CYRUS_BIN + "/squatter", "-C", os.path.join(cyrus.dir, "primary", "etc",
                                                           "imapd.conf"),
            "-v", "-i", "-u", bl.USER]


def cyrus_index_dir(cyrus):
    return os.path.join(cyrus.dir, "primary", "search")


def du_kib(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks // 2
            except OSError:
                pass
    return total


# ------------------------------------------------------------------ reference

MESSAGE_ID = re.compile(rb"<corpus\.\d+\.(\d+)\.")


def corpus_numbers(port, above=0):
    """{UID: corpus message number} of USER's INBOX for UIDs > `above`: the
    two sides number the same messages differently (concurrent delivery)."""
    imap = imaplib.IMAP4("127.0.0.1", port)
    imap.login(bl.USER, bl.PASSWORD)
    imap.select("INBOX", readonly=True)
    typ, data = imap.uid("FETCH", "%d:*" % (above + 1),
                         "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    imap.logout()
    out = {}
    for item in data:
        if isinstance(item, tuple):
            uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
            m = MESSAGE_ID.search(item[1])
            if uid > above and m:
                out[uid] = int(m.group(1))
    return out


def _part_text(part):
    try:
        text = part.get_content()
    except (LookupError, ValueError, AssertionError):
        text = part.get_payload(decode=True).decode("utf-8", "replace")
    if part.get_content_subtype() == "html":
        text = html.unescape(re.sub(r"<[^>]*>", " ", text))
    return text


def where(raw, key, needle):
    """Where `needle` occurs in the message for `key`, by Python's email
    package (headers decoded, text parts decoded to Unicode, HTML tags
    dropped, case folded): a list of places, [] if nowhere. The headers of
    MIME parts are listed too ("part N header X"), though replimail's BODY
    and TEXT do not search them (mime/message.h: decoded text)."""
    m = email.message_from_bytes(raw, policy=email.policy.default)
    n = needle.casefold()
    places = []
    if key == "SUBJECT":
        return ["Subject"] if n in str(m.get("subject", "")).casefold() else []
    if key == "TEXT":
        places += ["header %s" % k for k, v in m.items() if n in str(v).casefold()]
    for i, part in enumerate(m.walk()):
        if part.get_content_maintype() == "text" and n in _part_text(part).casefold():
            places.append("part %d %s; charset=%s; %s" % (
                i, part.get_content_type(), part.get_content_charset(),
                part.get("content-transfer-encoding", "7bit")))
        if i > 0:
            places += ["part %d header %s" % (i, k) for k, v in part.items()
                       if n in str(v).casefold()]
    return places


def in_text(places):
    """True if a place is one replimail's text keys search (not a MIME part
    header)."""
    return any(not re.match(r"part \d+ header ", p) for p in places)


def explain(seed, keys, only_ours, only_theirs, sample=5):
    """For up to `sample` corpus messages found only by replimail and only
    by Cyrus, where the reference finds the needles. Returns (notes,
    our_wrong) where our_wrong counts sampled messages on which the
    reference sides with Cyrus."""
    notes, our_wrong = [], 0
    for side, numbers in (("replimail only", only_ours), ("cyrus only", only_theirs)):
        for i in numbers[:sample]:
            _, raw = message(seed, i, bl.USER)
            found = {needle: where(raw, key, needle) for key, needle in keys}
            matches = all(in_text(p) for p in found.values())
            if matches != (side == "replimail only"):
                our_wrong += 1
            notes.append({"message": i, "found_by": side, "reference_matches": matches,
                          "where": found})
    return notes, our_wrong


def summarize(notes):
    """One line on what the sampled differing messages have in common."""
    kinds = {}
    for n in notes:
        for places in n["where"].values():
            for p in places:
                k = re.sub(r"^part \d+ ", "", p)
                kinds.setdefault((n["found_by"], k), 0)
                kinds[(n["found_by"], k)] += 1
    return "; ".join("%s: %s x%d" % (side, k, c) for (side, k), c in sorted(kinds.items()))
