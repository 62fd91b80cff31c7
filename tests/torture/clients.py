"""The clients of the torture test and the crash campaign: what mail clients
do, each response checked against the model (model.py). Each client is a
thread with its own connections; `stop` (a threading.Event) ends it after
the command under way.

A client's connection may be cut (crash campaign): the command under way
then has an unknown outcome, which the model records as such, and the
client reconnects. In the torture test (model.strict) nothing may fail.
"""
import poplib
import random
import re
import socket
import smtplib
import time

from model import now
import tortlib
from tortlib import Imap, ImapError, parse_fetch, parse_seqset

MAILBOXES = {"alice": ["user.alice", "user.alice.Work"], "bob": ["user.bob", "user.bob.Work"]}
NETWORK_ERRORS = (OSError, ImapError, smtplib.SMTPException, poplib.error_proto, EOFError)


def imap_name(mbox):
    """The name the mailbox's owner uses (altnamespace, "/" separator)."""
    return "INBOX" if mbox.count(".") == 1 else mbox.split(".", 2)[2].replace(".", "/")


def user_of(mbox):
    return mbox.split(".")[1]


class Client:
    def __init__(self, model, name, stop, seed):
        self.model, self.name, self.stop = model, name, stop
        self.rand = random.Random(seed)
        self.n = 0

    def next_id(self):
        self.n += 1
        return "%s-%d" % (self.name, self.n)

    def lost_connection(self, what, err):
        """A connection failed: a failure in the torture test; in the crash
        campaign expected, and the client waits a little and reconnects."""
        self.model.count("connection errors")
        if self.model.strict:
            self.model.fail("%s: %s: %r" % (self.name, what, err))
            self.stop.wait(1)
        else:
            self.stop.wait(0.1)

    def run(self):
        while not self.stop.is_set():
            try:
                self.session()
            except NETWORK_ERRORS as e:
                self.lost_connection("session", e)
            except Exception as e:  # noqa: BLE001 — a client bug must not pass silently
                self.model.fail("%s: %r" % (self.name, e))
                raise


class LmtpClient(Client):
    """LMTP deliveries (several per connection, as an MTA does) to the
    users' INBOXes; 250 after the final dot is an acknowledgement."""

    def __init__(self, model, name, stop, seed, port, rate=None):
        super().__init__(model, name, stop, seed)
        self.port, self.rate = port, rate

    def session(self):
        conn = tortlib.lmtp_connect(self.port())
        try:
            for _ in range(self.rand.randint(1, 20)):
                if self.stop.is_set():
                    break
                user = self.rand.choice(list(MAILBOXES))
                mid = self.next_id()
                self.model.attempt(mid, "user." + user)
                code, text = tortlib.lmtp_deliver(conn, user, tortlib.make_message(mid, user))
                if code == 250:
                    self.model.lmtp_ack(mid, "user." + user)
                else:
                    self.model.count("lmtp refused")
                    if self.model.strict or code // 100 == 5:
                        self.model.fail("%s: LMTP %s: %d %s" % (self.name, mid, code, text))
                if self.rate:
                    self.stop.wait(self.rand.expovariate(self.rate))
            conn.quit()
        finally:
            conn.close()


class ImapClient(Client):
    """IMAP sessions of the users: SELECT, FETCH (whole listing, a window,
    a body), STORE +-FLAGS of the keyword this client owns ($K<owner>),
    APPEND, COPY INBOX -> Work, \\Deleted + UID EXPUNGE, EXPUNGE, SEARCH
    of a message's token, LOGOUT."""

    def __init__(self, model, name, stop, seed, port, owner, ops=40, rate=None, copy=True):
        super().__init__(model, name, stop, seed)
        self.port, self.kw, self.ops, self.rate, self.copy = port, "$K%d" % owner, ops, rate, copy

    def session(self):
        user = self.rand.choice(list(MAILBOXES))
        self.mbox = self.rand.choice(MAILBOXES[user])
        self.c = Imap(self.port())
        self.last_sent = self.view_time = now()
        try:
            self.cmd("LOGIN %s %s" % (user, tortlib.USERS[user]))
            sel = now()
            st, text, unt = self.cmd("SELECT %s" % imap_name(self.mbox))
            self.selected_at = sel
            for line, _ in unt:
                m = re.search(rb"\[UIDVALIDITY (\d+)\]", line)
                if m:
                    self.model.saw_uidvalidity(self.mbox, int(m.group(1)))
            self.uids = []
            self.listing(full=True)
            for _ in range(self.rand.randint(1, self.ops)):
                if self.stop.is_set():
                    break
                self.rand.choices(
                    [self.listing, self.window, self.body, self.store, self.append, self.copy_op,
                     self.expunge_one, self.expunge_all, self.search, self.noop],
                    [1, 6, 3, 8, 5, 2 if self.copy else 0, 3, 1, 2, 2])[0]()
                if self.rate:
                    self.stop.wait(self.rand.expovariate(self.rate))
            self.logout()
        finally:
            self.c.close()
            for bug in self.c.serverbugs:
                self.model.fail("%s: %s" % (self.name, bug))

    def cmd(self, text, literal=None, ok=("OK",)):
        # The session's view is refreshed at the end of each command (when
        # the tagged response goes out), so what a command shows is at least
        # as new as the moment the previous command was sent (model.py).
        self.view_time, self.last_sent = self.last_sent, now()
        st, resp, unt = self.c.command(text, literal)
        self.model.count("imap commands")
        if st not in ok:
            self.model.fail("%s: %s %s: %s %s" % (self.name, self.mbox, text.split(" {")[0]
                                                   if isinstance(text, str) else text[:40],
                                                   st, resp))
        return st, resp, unt

    def fetched(self, unt, how):
        """Checks and returns parse_fetch() of a FETCH's responses."""
        rows = parse_fetch(unt)
        seq_uids = sorted((s, u) for s, u, _, _, _ in rows if u is not None)
        for (s1, u1), (s2, u2) in zip(seq_uids, seq_uids[1:]):
            if s2 > s1 and u2 <= u1:
                self.model.fail("%s: %s: message %d has UID %d, message %d UID %d"
                                % (self.name, self.mbox, s1, u1, s2, u2))
        self.model.saw_uids(self.mbox, [u for _, u in seq_uids])
        for seq, uid, flags, header, body in rows:
            if uid is None:
                continue
            self.model.check_not_expunged(self.mbox, uid, self.selected_at, how)
            if flags is not None:
                self.model.check_flags(self.mbox, uid, flags, self.view_time, how)
            if header is not None:
                mid = tortlib.id_of(header)
                if mid:
                    self.model.learn(self.mbox, uid, mid, how)
            if body is not None:
                mid = tortlib.id_of(body)
                if mid is None:
                    self.model.fail("%s: %s uid %d: no X-Torture-Id in the body fetched"
                                    % (self.name, self.mbox, uid))
                else:
                    self.model.learn(self.mbox, uid, mid, how)
                    bad = tortlib.check_content(mid, body)
                    if bad:
                        self.model.fail("%s: %s uid %d: %s" % (self.name, self.mbox, uid, bad))
        return rows

    def listing(self, full=False):
        st, _, unt = self.cmd("UID FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (X-TORTURE-ID)])")
        rows = self.fetched(unt, "UID FETCH 1:*")
        self.uids = sorted(u for _, u, _, _, _ in rows if u)
        if full and st == "OK":
            # Everything acknowledged before this session's SELECT and not
            # deletable is in the session's view.
            listing = [(u, tortlib.id_of(h) if h else None) for _, u, _, h, _ in rows if u]
            self.model.check_listing(self.mbox, listing, self.selected_at,
                                     "%s's listing after SELECT" % self.name, complete=False)

    def window(self):
        lo = self.uids[-30] if len(self.uids) >= 30 else 1
        _, _, unt = self.cmd("UID FETCH %d:* (UID FLAGS)" % lo)
        for _, uid, _, _, _ in self.fetched(unt, "UID FETCH %d:*" % lo):
            if uid and uid not in self.uids:
                self.uids.append(uid)

    def pick(self, k=1):
        if not self.uids:
            return []
        return sorted(set(self.rand.choice(self.uids) for _ in range(k)))

    def body(self):
        for uid in self.pick():
            st, text, unt = self.cmd("UID FETCH %d (UID FLAGS BODY.PEEK[])" % uid,
                                     ok=("OK", "NO"))
            if st == "NO" and not self.model.is_deletable(self.mbox, uid):
                self.model.fail("%s: %s: UID FETCH %d BODY.PEEK[] of a message nobody deletes: "
                                "NO %s" % (self.name, self.mbox, uid, text))
            self.fetched(unt, "UID FETCH BODY.PEEK[]")

    def store(self):
        uids = self.pick(self.rand.randint(1, 3))
        if not uids:
            return
        add = self.rand.random() < 0.6
        self.model.kw_begin(self.mbox, uids, self.kw)
        st = "?"
        try:
            st, _, unt = self.cmd("UID STORE %s %sFLAGS (%s)" % (
                ",".join(map(str, uids)), "+" if add else "-", self.kw))
        finally:
            self.model.kw_end(self.mbox, uids, self.kw, add if st == "OK" else None)
        if st == "OK":
            self.model.count("flag changes acked", len(uids))
            for _, uid, flags, _, _ in parse_fetch(unt):
                # (A message expunged meanwhile may answer with its old flags.)
                if (uid in uids and flags is not None and (self.kw in flags) != add
                        and not self.model.is_deletable(self.mbox, uid)):
                    self.model.fail("%s: %s uid %d: STORE %sFLAGS %s answered FLAGS %s"
                                    % (self.name, self.mbox, uid, "+" if add else "-", self.kw,
                                       sorted(flags)))

    def append(self):
        user = user_of(self.mbox)
        target = self.rand.choice(MAILBOXES[user])
        mid = self.next_id()
        with_kw = self.rand.random() < 0.3
        self.model.attempt(mid, target)
        bound = self.model.uid_bound(target)
        st, text, _ = self.cmd('APPEND %s (%s) "04-Dec-2026 10:00:00 +0000"' % (
            imap_name(target), self.kw if with_kw else ""), tortlib.make_message(mid, user),
            ok=("OK",) if self.model.strict else ("OK", "NO"))
        if st != "OK":
            return
        m = re.search(r"\[APPENDUID (\d+) (\d+)\]", text)
        if not m:
            self.model.fail("%s: APPEND %s: no APPENDUID in %r" % (self.name, mid, text))
            return
        self.model.saw_uidvalidity(target, int(m.group(1)))
        uid = int(m.group(2))
        self.model.assign(target, uid, mid, bound, "APPEND")
        self.model.kw_end(target, [uid], self.kw, with_kw)
        self.model.count("appends acked")

    def copy_op(self):
        if self.mbox.count(".") != 1:
            return  # copies go INBOX -> Work only (an INBOX holds each id once)
        uids = [u for u in self.pick(self.rand.randint(1, 3))
                if self.model.id_of(self.mbox, u) is not None]
        if not uids:
            return
        target = self.mbox + ".Work"
        bound = self.model.uid_bound(target)
        st, text, _ = self.cmd("UID COPY %s %s" % (",".join(map(str, uids)), imap_name(target)),
                               ok=("OK", "NO"))
        if st != "OK":
            # Only a message someone may have expunged can be missing.
            if not any(self.model.is_deletable(self.mbox, u) for u in uids):
                self.model.fail("%s: UID COPY %s: %s" % (self.name, uids, text))
            return
        m = re.search(r"\[COPYUID (\d+) ([\d:,]+) ([\d:,]+)\]", text)
        if not m:
            return  # none of the messages existed any more
        src, dst = parse_seqset(m.group(2)), parse_seqset(m.group(3))
        for s, d in zip(src, dst):
            mid = self.model.id_of(self.mbox, s)
            if mid is None:
                self.model.fail("%s: COPYUID names UID %d of %s, never seen" % (self.name, s,
                                                                                self.mbox))
                continue
            self.model.assign(target, d, mid, bound, "COPY")
            if self.model.is_deletable(self.mbox, s):
                # COPY keeps the flags (RFC 3501 6.4.7): a source another
                # client set \Deleted on gives a \Deleted copy, which any
                # EXPUNGE of the target may remove. (Deletable is marked
                # before the STORE is sent, so before the COPY saw it.)
                self.model.mark_deletable(target, [d])
        self.model.count("copies acked", len(dst))

    def expunge_one(self):
        uids = self.pick()
        if not uids:
            return
        if self.model.id_of(self.mbox, uids[0]) is None:
            # Whoever may delete a message knows its id first (model.py).
            rows = self.fetched(self.cmd("UID FETCH %d (UID BODY.PEEK[HEADER.FIELDS "
                                         "(X-TORTURE-ID)])" % uids[0])[2], "UID FETCH")
            if not any(u == uids[0] for _, u, _, _, _ in rows):
                return
        self.model.mark_deletable(self.mbox, uids)
        s = ",".join(map(str, uids))
        st, _, _ = self.cmd("UID STORE %s +FLAGS.SILENT (\\Deleted)" % s)
        if st == "OK":
            self.model.deleted_ack(self.mbox, uids)
            st, _, unt = self.cmd("UID EXPUNGE %s" % s)
            if st == "OK":
                self.model.expunge_ack(self.mbox, uids)
                self.uids = [u for u in self.uids if u not in uids]

    def expunge_all(self):
        sent = now()
        st, _, _ = self.cmd("EXPUNGE")
        if st == "OK":
            self.model.expunge_all_ack(self.mbox, sent)

    def search(self):
        """UID SEARCH BODY of a message's token, or SUBJECT of its id (the
        cached subject form, kept beside each record): the message is found,
        and nothing whose body or subject lacks the needle."""
        for uid in self.pick():
            mid = self.model.id_of(self.mbox, uid)
            if mid is None or self.model.is_deletable(self.mbox, uid):
                continue
            if self.rand.random() < 0.5:
                key, needle = "BODY", tortlib.token(mid)
                holds = lambda other: other == mid
            else:
                # Ids can be substrings of others' ("c1-2" of "c1-23").
                key, needle = "SUBJECT", mid
                holds = lambda other: mid.lower() in ("torture " + other).lower()
            st, _, unt = self.cmd("UID SEARCH %s %s" % (key, needle))
            found = set()
            for line, _ in unt:
                if line.startswith(b"* SEARCH"):
                    found.update(int(x) for x in line.split()[2:])
            if st == "OK" and uid not in found and not self.model.is_deletable(self.mbox, uid):
                self.model.fail("%s: %s: SEARCH %s for %s misses uid %d (found %s)"
                                % (self.name, self.mbox, key, mid, uid, sorted(found)))
            for u in found:
                other = self.model.id_of(self.mbox, u)
                if other is not None and not holds(other):
                    self.model.fail("%s: %s: SEARCH %s for %s found uid %d, message %s"
                                    % (self.name, self.mbox, key, mid, u, other))

    def noop(self):
        self.cmd("NOOP")

    def logout(self):
        st, _, unt = self.c.command("LOGOUT")
        seen_bye = False
        for line, _ in unt:
            if line.startswith(b"* BYE"):
                seen_bye = True
            elif seen_bye:
                self.model.fail("%s: LOGOUT: %r after * BYE" % (self.name, line[:80]))
                break
        if st != "OK" or not seen_bye:
            self.model.fail("%s: LOGOUT answered %s without BYE" % (self.name, st))


class Pop3Client(Client):
    """POP3 sessions: UIDL, RETR (content checked), DELE, QUIT (which
    expunges what was DELEted)."""

    def __init__(self, model, name, stop, seed, port, rate=None):
        super().__init__(model, name, stop, seed)
        self.port, self.rate = port, rate

    def session(self):
        user = self.rand.choice(list(MAILBOXES))
        mbox = "user." + user
        p = poplib.POP3("127.0.0.1", self.port(), timeout=30)
        try:
            p.user(user)
            try:
                p.pass_(tortlib.USERS[user])
            except poplib.error_proto as e:
                if b"IN-USE" in str(e).encode() or "IN-USE" in str(e):
                    self.model.count("pop3 in use")
                    return
                raise
            _, lines, _ = p.uidl()
            entries = []
            for line in lines:
                n, uidl = line.decode().split()
                entries.append((int(n), int(uidl.rsplit(".", 1)[-1])))
            self.model.saw_uids(mbox, [u for _, u in entries])
            dele = []
            for n, uid in self.rand.sample(entries, min(len(entries), self.rand.randint(1, 4))):
                try:
                    _, lines, _ = p.retr(n)
                except poplib.error_proto as e:
                    if "EOF" in str(e):
                        raise EOFError(str(e))  # the connection, not an answer
                    if not self.model.is_deletable(mbox, uid):
                        self.model.fail("%s: RETR uid %d: %s" % (self.name, uid, e))
                    continue
                text = b"\r\n".join(lines) + b"\r\n"
                mid = tortlib.id_of(text)
                if mid is None:
                    self.model.fail("%s: RETR uid %d: no X-Torture-Id" % (self.name, uid))
                    continue
                self.model.learn(mbox, uid, mid, "POP3 RETR")
                bad = tortlib.check_content(mid, text)
                if bad:
                    self.model.fail("%s: RETR uid %d: %s" % (self.name, uid, bad))
                if self.rand.random() < 0.4:
                    self.model.mark_deletable(mbox, [uid])
                    p.dele(n)
                    dele.append(uid)
                if self.rate:
                    self.stop.wait(self.rand.expovariate(self.rate))
            p.quit()
            self.model.expunge_ack(mbox, dele)
            self.model.count("pop3 sessions")
        finally:
            try:
                p.close()
            except OSError:
                pass


def examine_as_owner(port, mbox):
    """An IMAP session logged in as `mbox`'s owner with `mbox` EXAMINEd
    (ImapError if it cannot be); the caller closes it."""
    user = user_of(mbox)
    c = Imap(port)
    try:
        c.command("LOGIN %s %s" % (user, tortlib.USERS[user]))
        st, text, _ = c.command("EXAMINE %s" % imap_name(mbox))
        if st != "OK":
            raise ImapError("EXAMINE %s: %s" % (mbox, text))
    except BaseException:
        c.close()
        raise
    return c


def final_listing(port, mbox):
    """[(uid, id, flags, body)] of a whole mailbox, read as its owner."""
    c = examine_as_owner(port, mbox)
    try:
        st, text, unt = c.command("UID FETCH 1:* (UID FLAGS BODY.PEEK[])")
        if st != "OK":
            raise ImapError("FETCH %s: %s" % (mbox, text))
        c.command("LOGOUT")
        bugs = c.serverbugs
    finally:
        c.close()
    rows = [(u, tortlib.id_of(b) if b else None, f or set(), b)
            for _, u, f, _, b in parse_fetch(unt)]
    return rows, bugs


def search_check(port, rand, sample):
    """The end of a run: UID SEARCH BODY with the token of each of `sample`
    messages per mailbox (read whole first) answers exactly the UIDs that
    hold that message: what the full-text index says (its rolling squatter
    killed and restarted along the way), scanned where it does not cover.
    Returns the failures."""
    bad = []
    for mboxes in MAILBOXES.values():
        for mbox in mboxes:
            rows, _ = final_listing(port, mbox)
            by_id = {}
            for uid, mid, _, _ in rows:
                if mid:
                    by_id.setdefault(mid, set()).add(uid)
            picked = rand.sample(sorted(by_id), min(sample, len(by_id)))
            try:
                c = examine_as_owner(port, mbox)
            except ImapError as e:
                bad.append(str(e))
                continue
            try:
                for mid in picked:
                    st, text, unt = c.command("UID SEARCH BODY %s" % tortlib.token(mid))
                    found = set()
                    for line, _ in unt:
                        if line.startswith(b"* SEARCH"):
                            found.update(int(x) for x in line.split()[2:])
                    if st != "OK" or found != by_id[mid]:
                        bad.append("%s: SEARCH BODY %s: %s %s, the mailbox holds it at %s"
                                   % (mbox, tortlib.token(mid), st, sorted(found),
                                      sorted(by_id[mid])))
                c.command("LOGOUT")
            finally:
                c.close()
    return bad


def final_check(model, port, how):
    """The end of a run, nothing under way: every mailbox read whole and
    checked (presence, no duplicate, no phantom, content, owned keywords,
    expunges). Returns {mailbox: number of messages}."""
    sizes = {}
    for mboxes in MAILBOXES.values():
        for mbox in mboxes:
            rows, bugs = final_listing(port, mbox)
            for b in bugs:
                model.fail("final listing of %s: %s" % (mbox, b))
            sizes[mbox] = len(rows)
            end = now()
            model.check_listing(mbox, [(u, mid) for u, mid, _, _ in rows], end, how,
                                complete=True)
            for uid, mid, flags, body in rows:
                model.check_not_expunged(mbox, uid, end, how)
                if mid and body:
                    bad = tortlib.check_content(mid, body)
                    if bad:
                        model.fail("%s uid %d: %s (%s)" % (mbox, uid, bad, how))
                for kw, value in model.expected_kw(mbox, uid).items():
                    if (kw in flags) != value:
                        model.fail("%s uid %d: %s %s at the end, its owner's last acknowledged "
                                   "STORE %s it (%s)" % (mbox, uid, kw,
                                                         "set" if kw in flags else "clear",
                                                         "set" if value else "cleared", how))
    return sizes
