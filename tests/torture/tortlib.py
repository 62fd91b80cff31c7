"""Shared pieces of the torture test and the crash campaign (tests/torture/):
a primary and a rolling replica under their own masters on free loopback
ports, the processes of each (found through /proc), raw IMAP/LMTP/POP3
clients that report every response, the messages (one unique id each), and
the end checks: PRAGMA integrity_check on every SQLite database,
`reconstruct -n`, and primary == replica (cyr_digest when built, else the
store read with `cyr_mbox`).

Every process this module starts is a descendant of the calling script, which
makes itself a child subreaper (prctl): a worker orphaned by a killed master
is re-parented to the script, never to init, so "ours" is always "a
descendant of this script", and the script reaps and finally stops them by PID.
"""
import ctypes
import hashlib
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration", "py"))

import lmtpkit  # noqa: E402  (tests/integration/py)

USERS = {"admin": "adminpw", "alice": "alicepw", "bob": "bobpw"}
SERVER_PROGRAMS = ("master", "imapd", "pop3d", "lmtpd", "sync_client", "sync_server",
                   "squatter")
PR_SET_CHILD_SUBREAPER = 36

_lock = threading.Lock()
_popen_pids = set()   # children we wait for through subprocess.Popen


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def become_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def popen(argv, **kw):
    """subprocess.Popen, with the child's PID kept out of reap_orphans()."""
    with _lock:
        p = subprocess.Popen(argv, **kw)
        _popen_pids.add(p.pid)
    return p


def run(argv, timeout=120, **kw):
    """Runs a tool to completion: (exit code, stdout, stderr)."""
    p = popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
              **kw)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        err += b"\n(killed after %d s)" % timeout
    with _lock:
        _popen_pids.discard(p.pid)
    return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def proc_stat(pid):
    """(comm, state, ppid, starttime) of a live or zombie process, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            text = f.read()
    except OSError:
        return None
    comm = text[text.index("(") + 1:text.rindex(")")]
    fields = text[text.rindex(")") + 2:].split()
    return comm, fields[0], int(fields[1]), int(fields[19])


def all_stats():
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st:
                out[int(name)] = st
    return out


def descendants(root, stats=None):
    """{pid: comm} of the live (non-zombie) descendants of `root`."""
    stats = stats if stats is not None else all_stats()
    kids = {}
    for pid, (comm, state, ppid, _) in stats.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = {}, [root]
    while todo:
        for c in kids.get(todo.pop(), []):
            todo.append(c)
            if stats[c][1] != "Z":
                out[c] = stats[c][0]
    return out


def reap_orphans():
    """Waits for zombie children that subprocess does not own (workers
    re-parented to us after their master died)."""
    me = os.getpid()
    for pid, (comm, state, ppid, _) in all_stats().items():
        if ppid == me and state == "Z":
            with _lock:
                if pid in _popen_pids:
                    continue
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Instance:
    """One replimail instance under its own master. role "primary": lmtp,
    imap, pop3 services, DAEMON rolling sync_client (channel "replica") and
    squatter -R; role "replica": sync_server (csync) and imap services,
    squatter -R on its own squatter channel."""

    def __init__(self, bin_dir, state, role, prefork=2, replica=None, extra_conf=()):
        self.bin, self.role = bin_dir, role
        self.dir = os.path.join(state, role)
        self.conf = os.path.join(self.dir, "etc", "imapd.conf")
        self.cyrus_conf = os.path.join(self.dir, "etc", "cyrus.conf")
        self.pidfile = os.path.join(self.dir, "run", "master.pid")
        self.logfile = os.path.join(self.dir, "log", "master.log")
        self.prefork = prefork
        self.replica = replica
        self.extra_conf = list(extra_conf)
        if role == "primary":
            self.ports = {"lmtp": free_port(), "imap": free_port(), "pop3": free_port()}
        else:
            self.ports = {"csync": free_port(), "imap": free_port()}
        self.proc = None
        self.starts = 0
        self.start_failures = 0

    def write_configs(self):
        for sub in ("etc", "conf", "spool", "log", "run"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        d = self.dir
        lines = ["configdirectory: %s/conf" % d, "defaultpartition: default",
                 "partition-default: %s/spool" % d, "servername: replimail-%s" % self.role,
                 "admins: admin", "sasl_pwcheck_method: auxprop",
                 "sasl_auxprop_plugin: sasldb", "sasl_sasldb_path: %s/etc/sasldb2" % d,
                 "sasl_mech_list: PLAIN", "allowplaintext: yes", "failedloginpause: 0",
                 "search_engine: xapian", "sync_log: 1"]
        if self.role == "primary":
            lines += ["sync_log_channels: replica squatter", "sync_authname: admin",
                      "sync_password: adminpw", "sync_timeout: 5s",
                      "sync_reconnect_maxwait: 2s", "replica_sync_host: 127.0.0.1",
                      "replica_sync_port: %d" % self.replica.ports["csync"]]
        else:
            lines += ["sync_log_channels: squatter"]
        lines += self.extra_conf
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        progs = {"lmtp": "lmtpd", "imap": "imapd", "pop3": "pop3d", "csync": "sync_server"}
        args = {"lmtp": " -a"}
        with open(self.cyrus_conf, "w") as f:
            f.write('START {\n  recover cmd="reconstruct -C %s"\n}\n' % self.conf)
            f.write("SERVICES {\n")
            for name, port in self.ports.items():
                f.write('  %s cmd="%s -C %s%s" listen="127.0.0.1:%d" prefork=%d\n'
                        % (name, progs[name], self.conf, args.get(name, ""), port, self.prefork))
            f.write("}\nDAEMON {\n")
            # Every change's sync log lines go through the log daemon.
            f.write('  synclog cmd="sync_logd -C %s"\n' % self.conf)
            if self.role == "primary":
                f.write('  syncreplica cmd="sync_client -C %s -r -n replica"\n' % self.conf)
            f.write('  squatter cmd="squatter -C %s -R"\n' % self.conf)
            f.write("}\n")
        for user, pw in USERS.items():
            subprocess.run(["saslpasswd2", "-p", "-c", "-f", d + "/etc/sasldb2", "-u",
                            "replimail-" + self.role, user], input=pw.encode(), check=True)

    def start_master(self):
        """Starts master in the background (as an init system would: the same
        command line every time); does not wait for its ports."""
        try:
            os.unlink(self.pidfile)
        except FileNotFoundError:
            pass
        self.proc = popen([self.bin + "/master", "-C", self.conf, "-M", self.cyrus_conf, "-p",
                           self.pidfile, "-D"],
                          stdout=open(self.logfile, "ab"), stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, start_new_session=True)
        self.starts += 1

    def wait_ready(self, seconds=30):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if all(port_open(p) for p in self.ports.values()):
                return True
            time.sleep(0.1)
        return False

    def start(self, seconds=30):
        self.write_configs()
        self.start_master()
        if not self.wait_ready(seconds):
            raise RuntimeError("%s: master did not come up; log:\n%s"
                               % (self.role, self.master_log()[-3000:]))

    def master_alive(self):
        return self.proc is not None and self.proc.poll() is None

    def master_pid(self):
        return self.proc.pid if self.master_alive() else None

    def master_log(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def processes(self, stats=None):
        """{pid: comm} of master and its live descendants."""
        pid = self.master_pid()
        if pid is None:
            return {}
        out = descendants(pid, stats)
        out[pid] = "master"
        return out

    def stop(self, grace=20):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        with _lock:
            _popen_pids.discard(self.proc.pid)
        return self.proc.returncode

    def tool(self, name, *args, timeout=300):
        return run([self.bin + "/" + name, "-C", self.conf] + list(args), timeout=timeout)

    def mailboxes(self):
        rc, out, err = self.tool("cyr_mbox", "list")
        if rc != 0:
            raise RuntimeError("%s: cyr_mbox list: %s %s" % (self.role, out, err))
        return [line.split()[0] for line in out.splitlines() if line.strip()]

    def databases(self):
        """Every SQLite database file of the instance (by its header)."""
        found = []
        for top, _, files in os.walk(self.dir):
            for name in files:
                path = os.path.join(top, name)
                if name.endswith(("-wal", "-shm", "-journal")):
                    continue
                try:
                    with open(path, "rb") as f:
                        if f.read(16) == b"SQLite format 3\x00":
                            found.append(path)
                except OSError:
                    pass
        return sorted(found)


def stop_leftovers():
    """SIGKILL to every process still descending from this script that runs
    one of our server programs (orphans of killed masters), by PID."""
    stats = all_stats()
    left = {p: c for p, c in descendants(os.getpid(), stats).items() if c in SERVER_PROGRAMS}
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    time.sleep(0.2)
    reap_orphans()
    return left


# ---------------------------------------------------------------- messages

WORDS = ("mail store replica channel rolling sync log uniqueid tombstone mailbox folder "
         "quota seen flag index record partition message torture model").split()


def make_message(mid, rcpt="alice", size=None):
    """The bytes of message `mid` (unique id, e.g. "L3-17"): Message-ID and
    X-Torture-Id carry it; its body is a deterministic function of it."""
    r = random.Random(mid)
    size = size or r.choice((300, 700, 1500, 4000, 12000))
    lines, total = [], 0
    while total < size:
        line = " ".join(r.choice(WORDS) for _ in range(r.randint(3, 12)))
        if not lines and r.random() < 0.15:
            line = "." + line
        lines.append(line)
        total += len(line) + 2
    lines.append("token %s" % token(mid))
    head = ["From: Sender <sender@example.com>", "To: %s@example.com" % rcpt,
            "Subject: torture %s" % mid, "Date: Fri, 04 Dec 2026 10:00:00 +0000",
            "Message-ID: <%s@torture.example>" % mid, "X-Torture-Id: %s" % mid]
    return ("\r\n".join(head) + "\r\n\r\n" + "\r\n".join(lines) + "\r\n").encode()


def token(mid):
    """A word only message `mid` has in its body, and no substring of
    another's (SEARCH BODY matches substrings)."""
    return "tk%sz" % mid.replace("-", "x").lower()


def body_of(msg):
    i = msg.find(b"\r\n\r\n")
    return msg[i + 4:] if i >= 0 else b""


def id_of(text):
    m = re.search(rb"X-Torture-Id: *([A-Za-z0-9-]+)", text, re.I)
    return m.group(1).decode() if m else None


def check_content(mid, stored):
    """"" if `stored` (as read back) carries the body made for `mid`."""
    want = body_of(make_message(mid))
    got = body_of(stored)
    if got != want:
        return "message %s: body differs (%d bytes stored, %d sent, sha1 %s vs %s)" % (
            mid, len(got), len(want), hashlib.sha1(got).hexdigest()[:12],
            hashlib.sha1(want).hexdigest()[:12])
    return ""


# ---------------------------------------------------------------- IMAP

class ImapError(Exception):
    pass


class Imap:
    """A raw IMAP client: every command returns (status, text, untagged),
    untagged being [(line, [literals])]. Any line carrying [SERVERBUG] is
    kept in .serverbugs."""

    def __init__(self, port, timeout=30):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.n = 0
        self.serverbugs = []
        greeting = self._line()
        if not greeting.startswith(b"* OK"):
            raise ImapError("greeting %r" % greeting)

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise ImapError("connection closed")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        if b"[SERVERBUG]" in line:
            self.serverbugs.append(line.decode(errors="replace"))
        return line

    def _bytes(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _response_line(self):
        """One response with its literals: (text with {n} kept, [literals])."""
        line = self._line()
        lits = []
        while True:
            m = re.search(rb"\{(\d+)\}$", line)
            if not m:
                return line, lits
            lits.append(self._bytes(int(m.group(1))))
            line = line + b"\x00" + self._line()

    def command(self, text, literal=None):
        """Sends `text` (str or bytes) and, when given, `literal` after it as
        a synchronizing literal (APPEND); returns (status, text, untagged)."""
        self.n += 1
        tag = b"t%d" % self.n
        if isinstance(text, str):
            text = text.encode()
        untagged = []
        if literal is None:
            self.sock.sendall(tag + b" " + text + b"\r\n")
        else:
            self.sock.sendall(tag + b" " + text + b" {%d}\r\n" % len(literal))
            while True:
                line, lits = self._response_line()
                if line.startswith(b"+"):
                    break
                if line.startswith(tag + b" "):
                    return self._tagged(line, tag, untagged)
                untagged.append((line, lits))
            self.sock.sendall(literal + b"\r\n")
        while True:
            line, lits = self._response_line()
            if line.startswith(tag + b" "):
                return self._tagged(line, tag, untagged)
            untagged.append((line, lits))

    def _tagged(self, line, tag, untagged):
        rest = line[len(tag) + 1:].decode(errors="replace")
        status, _, text = rest.partition(" ")
        return status, text, untagged

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def parse_seqset(text):
    out = []
    for part in text.split(","):
        a, _, b = part.partition(":")
        a, b = int(a), int(b or a)
        out.extend(range(min(a, b), max(a, b) + 1))
    return out


FETCH_RE = re.compile(rb"^\* (\d+) FETCH \(")


def parse_fetch(untagged):
    """[(seq, uid, flags set, header literal or None, body literal or None)]
    of the FETCH responses among `untagged`."""
    out = []
    for line, lits in untagged:
        m = FETCH_RE.match(line)
        if not m:
            continue
        seq = int(m.group(1))
        uid = re.search(rb"UID (\d+)", line)
        flags = re.search(rb"FLAGS \(([^)]*)\)", line)
        header = body = None
        segs = line.split(b"\x00")
        for i, lit in enumerate(lits):
            if re.search(rb"BODY\[HEADER\.FIELDS[^\]]*\] \{\d+\}$", segs[i]):
                header = lit
            elif re.search(rb"BODY\[\] \{\d+\}$", segs[i]):
                body = lit
        out.append((seq, int(uid.group(1)) if uid else None,
                    set(flags.group(1).decode().split()) if flags else None, header, body))
    return out


# ---------------------------------------------------------------- checks

def integrity(inst):
    """[(db, problem)] for every database of a stopped instance that
    PRAGMA integrity_check does not call ok."""
    bad = []
    for path in inst.databases():
        try:
            con = sqlite3.connect(path)
            rows = [r[0] for r in con.execute("PRAGMA integrity_check").fetchall()]
            con.close()
        except sqlite3.Error as e:
            rows = [str(e)]
        if rows != ["ok"]:
            bad.append((path, "; ".join(rows[:5])))
    return bad


def reconstruct_clean(inst):
    """"" when `reconstruct -n` finds nothing, else what it said."""
    rc, out, err = inst.tool("reconstruct", "-n")
    if rc == 0:
        return ""
    return "%s: reconstruct -n exit %d: %s %s" % (inst.role, rc, out.strip()[:2000],
                                                   err.strip()[:2000])


INFO_KEYS = ("name", "uniqueid", "mbtype", "acl", "uidvalidity", "last_uid", "highestmodseq",
             "options", "sync_crc", "sync_crc_annot", "exists", "quota_used")


def store_state(inst):
    """What is replicated, read from the store: per mailbox its counters and
    live records (the fallback when cyr_digest is not built)."""
    state = {}
    for name in inst.mailboxes():
        rc, out, err = inst.tool("cyr_mbox", "info", name)
        if rc != 0:
            raise RuntimeError("%s: cyr_mbox info %s: %s" % (inst.role, name, err))
        info = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
        rc, out, err = inst.tool("cyr_mbox", "records", name)
        if rc != 0:
            raise RuntimeError("%s: cyr_mbox records %s: %s" % (inst.role, name, err))
        recs = []
        for line in out.splitlines():
            uid, modseq, size, guid, _date, flags = line.split("\t")
            if "\\Expunged" in flags:
                continue
            recs.append((int(uid), int(modseq), int(size), guid,
                         tuple(sorted(flags.strip("()").split()))))
        state[name] = ({k: info.get(k) for k in INFO_KEYS}, recs)
    return state


def digest(inst):
    """The instance's replicated state as one comparable value."""
    if os.path.exists(os.path.join(inst.bin, "cyr_digest")):
        rc, out, err = inst.tool("cyr_digest")
        if rc != 0:
            raise RuntimeError("%s: cyr_digest: %s %s" % (inst.role, out, err))
        return out
    return store_state(inst)


def describe_difference(a, b):
    """A few lines saying how digests `a` and `b` differ."""
    if isinstance(a, str):
        la, lb = a.splitlines(), b.splitlines()
        only_a = [x for x in la if x not in set(lb)][:8]
        only_b = [x for x in lb if x not in set(la)][:8]
        return "primary only: %s\nreplica only: %s" % (only_a, only_b)
    out = []
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            out.append("%s only on %s" % (name, "primary" if name in a else "replica"))
            continue
        ia, ra = a[name]
        ib, rb = b[name]
        for k in INFO_KEYS:
            if ia.get(k) != ib.get(k):
                out.append("%s %s: %s vs %s" % (name, k, ia.get(k), ib.get(k)))
        da, db = {r[0]: r for r in ra}, {r[0]: r for r in rb}
        diff = [u for u in sorted(set(da) | set(db)) if da.get(u) != db.get(u)]
        for u in diff[:5]:
            out.append("%s uid %d: %s vs %s" % (name, u, da.get(u), db.get(u)))
        if len(diff) > 5:
            out.append("%s: %d records differ" % (name, len(diff)))
    return "\n".join(out[:40])


def wait_converged(primary, replica, seconds):
    """Polls both digests until equal: (True, seconds taken) or (False,
    difference) after `seconds`."""
    t0 = time.monotonic()
    last = ""
    while True:
        try:
            a, b = digest(primary), digest(replica)
            if a == b:
                return True, time.monotonic() - t0
            last = describe_difference(a, b)
        except RuntimeError as e:
            last = str(e)
        if time.monotonic() - t0 > seconds:
            return False, last
        time.sleep(0.5)


def lmtp_connect(port):
    return lmtpkit.connect(port, timeout=30)


def lmtp_deliver(conn, rcpt, msg):
    return lmtpkit.deliver(conn, "sender@example.com", [rcpt], msg)[rcpt]
