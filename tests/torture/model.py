"""The model the torture test and the crash campaign check every response
against. It is sound under concurrency because it only asserts what no
interleaving of correct servers could contradict:

- Every message has a unique id (X-Torture-Id, Message-ID). An INBOX only
  ever receives a message once (LMTP, APPEND), so an id appears in an INBOX
  at most once; Work folders also receive COPYs, each known by its COPYUID.
- A message instance (mailbox, uid) may disappear only after some client
  announced (before sending) that it would set \\Deleted on it or DELE it.
  Once an expunge was acknowledged, a session selected afterwards never
  sees it again.
- Keyword $K<n> is changed only by client n, one command at a time. An
  IMAP session's view of flags is refreshed when a command ends (RFC 3501
  lets a server report other sessions' flag changes then), so a command
  shows every change acknowledged before the session's previous command
  was sent: there, with no other STORE of n under way, n's value must show.
- A UID given by APPENDUID/COPYUID is above every UID of that mailbox seen
  in any response completed before the command was sent, and never given
  twice; within one FETCH response UIDs rise with sequence numbers.
"""
import collections
import threading
import time

now = time.monotonic


class Model:
    def __init__(self, strict=True):
        # strict: no kills, so every command must succeed (torture test);
        # else an unanswered command leaves its outcome unknown (campaign).
        self.strict = strict
        self.lock = threading.Lock()
        self.attempted = {}        # id -> mailbox it was sent to (LMTP/APPEND)
        self.lmtp_acked = {}       # id -> (mailbox, ack time)
        self.created = {}          # (mbox, uid) -> (id, ack time): APPENDUID/COPYUID
        self.copy_unknown = set()  # mailboxes that got a COPY whose answer was lost
        self.learned = {}          # (mbox, uid) -> id, from any FETCH/RETR
        self.deletable = set()     # (mbox, uid)
        self.deleted_acked = {}    # (mbox, uid) -> time its \Deleted STORE was acked
        self.expunged = {}         # (mbox, uid) -> time the expunge was acknowledged
        self.maxuid = collections.defaultdict(int)
        self.assigned = collections.defaultdict(set)
        self.uidvalidity = {}
        self.kw = {}               # (mbox, uid, kw) -> [value or None, inflight, acked_at]
        self.failures = []
        self.counts = collections.Counter()

    # -------------------------------------------------------------- recording
    def fail(self, what):
        with self.lock:
            self.failures.append(what)
            self.counts["failures"] += 1

    def count(self, key, n=1):
        with self.lock:
            self.counts[key] += n

    def attempt(self, mid, mbox):
        with self.lock:
            self.attempted[mid] = mbox

    def lmtp_ack(self, mid, mbox):
        with self.lock:
            self.lmtp_acked[mid] = (mbox, now())
            self.counts["lmtp acked"] += 1

    def saw_uidvalidity(self, mbox, v):
        with self.lock:
            old = self.uidvalidity.setdefault(mbox, v)
        if old != v:
            self.fail("%s: UIDVALIDITY changed from %d to %d" % (mbox, old, v))

    def uid_bound(self, mbox):
        with self.lock:
            return self.maxuid[mbox]

    def saw_uids(self, mbox, uids):
        if uids:
            with self.lock:
                self.maxuid[mbox] = max(self.maxuid[mbox], max(uids))

    def assign(self, mbox, uid, mid, bound, how):
        """A UID the server gave a new instance of `mid` (APPENDUID/COPYUID);
        `bound` is uid_bound() taken before the command was sent."""
        with self.lock:
            dup = uid in self.assigned[mbox]
            self.assigned[mbox].add(uid)
            self.created[(mbox, uid)] = (mid, now())
            self.learned[(mbox, uid)] = mid
        if dup:
            self.fail("%s: UID %d given twice (%s of %s)" % (mbox, uid, how, mid))
        if uid <= bound:
            self.fail("%s: %s gave UID %d, not above UID %d seen before the command"
                      % (mbox, how, uid, bound))
        self.saw_uids(mbox, [uid])

    def learn(self, mbox, uid, mid, how):
        with self.lock:
            old = self.learned.setdefault((mbox, uid), mid)
        if old != mid:
            self.fail("%s uid %d: %s shows message %s, earlier %s" % (mbox, uid, how, mid, old))

    def id_of(self, mbox, uid):
        with self.lock:
            return self.learned.get((mbox, uid))

    def mark_deletable(self, mbox, uids):
        with self.lock:
            self.deletable.update((mbox, u) for u in uids)

    def is_deletable(self, mbox, uid):
        with self.lock:
            return (mbox, uid) in self.deletable

    def deleted_ack(self, mbox, uids):
        t = now()
        with self.lock:
            for u in uids:
                self.deleted_acked.setdefault((mbox, u), t)

    def expunge_ack(self, mbox, uids):
        t = now()
        with self.lock:
            new = [u for u in uids if (mbox, u) not in self.expunged]
            for u in new:
                self.expunged[(mbox, u)] = t
            self.counts["expunges acked"] += len(new)

    def expunge_all_ack(self, mbox, sent_at):
        """A plain EXPUNGE/CLOSE/POP3 QUIT acknowledged: every message of
        `mbox` whose \\Deleted was acknowledged before it was sent is gone."""
        with self.lock:
            gone = [k for k, t in self.deleted_acked.items() if k[0] == mbox and t < sent_at]
        self.expunge_ack(mbox, [u for _, u in gone])

    # -------------------------------------------------------------- keywords
    def kw_begin(self, mbox, uids, kw):
        with self.lock:
            for u in uids:
                st = self.kw.setdefault((mbox, u, kw), [None, False, 0.0])
                st[1] = True

    def kw_end(self, mbox, uids, kw, value):
        """value: True/False when acknowledged, None when the outcome is unknown."""
        t = now()
        with self.lock:
            for u in uids:
                st = self.kw.setdefault((mbox, u, kw), [None, False, 0.0])
                st[0], st[1], st[2] = value, False, t

    def check_flags(self, mbox, uid, flags, sent_at, how):
        """Compares an observed FLAGS set with every owned keyword of the
        instance whose state was settled before the command was sent."""
        bad = []
        with self.lock:
            for (m, u, kw), (value, inflight, acked_at) in self.kw.items():
                if m != mbox or u != uid or value is None or inflight or acked_at >= sent_at:
                    continue
                if (kw in flags) != value:
                    bad.append("%s uid %d: %s shows %s %s, its owner's acknowledged STORE %s it"
                               % (mbox, uid, how, kw, "set" if kw in flags else "clear",
                                  "set" if value else "cleared"))
        for b in bad:
            self.fail(b)

    def expected_kw(self, mbox, uid):
        """{kw: value} of the settled owned keywords of an instance."""
        with self.lock:
            return {kw: st[0] for (m, u, kw), st in self.kw.items()
                    if m == mbox and u == uid and st[0] is not None and not st[1]}

    def check_not_expunged(self, mbox, uid, selected_at, how):
        with self.lock:
            t = self.expunged.get((mbox, uid))
        if t is not None and t < selected_at:
            self.fail("%s uid %d: expunge acknowledged before SELECT, yet %s shows it"
                      % (mbox, uid, how))

    def expected_present(self, mbox, before):
        """Ids acknowledged into `mbox` before `before` that nobody may have
        deleted: {id: uid or None (LMTP, uid unknown)}."""
        with self.lock:
            out = {}
            for (m, u), (mid, t) in self.created.items():
                if m == mbox and t < before and (m, u) not in self.deletable:
                    out.setdefault(mid, []).append(u)
            deletable_ids = {self.learned.get(k) for k in self.deletable if k[0] == mbox}
            for mid, (m, t) in self.lmtp_acked.items():
                if m == mbox and t < before and mid not in deletable_ids:
                    out.setdefault(mid, []).append(None)
            return out

    def check_listing(self, mbox, listing, before, how, complete):
        """listing: [(uid, id)] of the whole of `mbox`. Every instance
        expected present (acked before `before`, not deletable) is there;
        INBOX holds each id once; every uid with a known id shows that id.
        With `complete` (nothing under way any more), every instance present
        must also be one the model knows: no phantom, no duplicate."""
        by_id = collections.defaultdict(list)
        for uid, mid in listing:
            by_id[mid].append(uid)
            if mid is None:
                self.fail("%s uid %d: %s: message without X-Torture-Id" % (mbox, uid, how))
                continue
            self.learn(mbox, uid, mid, how)
        if mbox.endswith("INBOX") or "." not in mbox.split("user.", 1)[-1]:
            for mid, uids in by_id.items():
                if mid is not None and len(uids) > 1:
                    if complete:
                        self.count("duplicated", len(uids) - 1)
                    self.fail("%s: message %s stored %d times (uids %s) (%s)"
                              % (mbox, mid, len(uids), uids, how))
        present = {uid for uid, _ in listing}
        lost = 0
        for mid, uids in self.expected_present(mbox, before).items():
            for u in uids:
                if (u is None and mid not in by_id) or (u is not None and u not in present):
                    lost += 1
                    if complete:
                        self.count("lost")
                    if lost <= 10:
                        self.fail("%s: acknowledged message %s (uid %s) missing (%s)"
                                  % (mbox, mid, u, how))
        if lost > 10:
            self.fail("%s: %d acknowledged messages missing in all (%s)" % (mbox, lost, how))
        if complete:
            with self.lock:
                created = {u for (m, u) in self.created if m == mbox}
                attempted = {mid for mid, m in self.attempted.items() if m == mbox}
                unknown_copies = mbox in self.copy_unknown
            for uid, mid in listing:
                if uid in created:
                    continue
                if mid in attempted and mid in by_id and len(by_id[mid]) == 1:
                    continue  # a delivery/APPEND (acked or not) of its own mailbox
                if unknown_copies or not self.strict and mid in attempted:
                    continue
                self.fail("%s uid %d: message %s that no acknowledged command put there (%s)"
                          % (mbox, uid, mid, how))
        return lost
