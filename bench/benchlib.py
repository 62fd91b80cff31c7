"""Shared pieces of the replimail-vs-Cyrus benchmarks (bench/run and its
run-* scripts): instances of both systems on free loopback ports, corpus
loading over LMTP, peak-memory probes (PeakWatcher for one program,
TreePeaks for every process of each side) and the result document of
/work/notes/bench-contract.md (new_doc, add_figure, finish_doc).

replimail instances are laid out here (not by examples/run.sh, whose primary
runs rolling sync_clients that would replicate during the load). The Cyrus
3.6 pair is the reference peer's (../shared/peer/cyrus/setup.sh) in a state
folder of our own, on free ports. Every process is stopped by the PID we
recorded. Both systems run with their default durability: replimail's
fsyncs (stage file, mailbox directory, SQLite FULL, sync log) and Cyrus's.
"""
import grp
import imaplib
import json
import multiprocessing as mp
import os
import platform
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
ROOT = os.path.dirname(BENCH)
PEER_HOME = os.environ.get("PEER_HOME", os.path.join(os.path.dirname(ROOT), "shared", "peer",
                                                     "cyrus"))
CYRUS_BIN = "/usr/lib/cyrus/bin"
USER, PASSWORD = "testuser", "testpw"


def exit_on_sigterm():
    """SIGTERM ends the script through SystemExit, so that its finally
    blocks stop every instance it started (bench/run forwards its SIGTERM)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


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


def wait_ports(ports, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if all(port_open(p) for p in ports):
            return
        time.sleep(0.1)
    raise RuntimeError("ports %s not listening after %d s" % (ports, seconds))


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(") ", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def children_map():
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(") ", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            kids.setdefault(int(fields[1]), []).append(int(name))
    return kids


def descendants(pid):
    kids, out, todo = children_map(), [], [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def vm_hwm_kb(pid):
    """Peak resident set (VmHWM) of a live process, in KiB; 0 if gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU time of a live process, in seconds; 0 if gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


VMSTAT_KEYS = ("pgfault", "pgmajfault", "pgalloc_normal", "pgfree", "pgscan_kswapd",
               "pgscan_direct", "pgsteal_kswapd", "pgsteal_direct", "allocstall_normal",
               "compact_stall", "workingset_refault_file", "nr_dirtied", "nr_written")


def _system_counters():
    """What the whole machine has spent so far: CPU jiffies by kind, a few
    /proc/vmstat counters and the pressure-stall totals (microseconds)."""
    out = {}
    with open("/proc/stat") as f:
        cpu = f.readline().split()[1:]
    for i, name in enumerate(("user", "nice", "system", "idle", "iowait", "irq", "softirq",
                              "steal")):
        out["cpu_" + name + "_s"] = int(cpu[i]) / CLK_TCK
    with open("/proc/vmstat") as f:
        for line in f:
            key, value = line.split()
            if key in VMSTAT_KEYS:
                out[key] = int(value)
    for res in ("cpu", "io", "memory"):
        try:
            with open("/proc/pressure/" + res) as f:
                for line in f:
                    kind, *rest = line.split()
                    total = dict(x.split("=") for x in rest)["total"]
                    out["psi_%s_%s_s" % (res, kind)] = int(total) / 1e6
        except OSError:
            pass
    return out


def meminfo_mib(keys=("MemFree", "Cached", "Dirty")):
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, value = line.split(":", 1)
            if key in keys:
                out[key.lower() + "_mib"] = round(int(value.split()[0]) / 1024, 1)
    return out


class SystemDelta:
    """The machine's CPU time by kind, page and pressure counters over a
    `with` block, and its free and cached memory before and after: what a
    timed step cost besides the processes measured (a slow draw shows as
    steal, iowait, allocation or reclaim)."""

    def __enter__(self):
        self._before, self.mem_before = _system_counters(), meminfo_mib()
        return self

    def __exit__(self, *exc):
        after = _system_counters()
        self.result = {k: round(after[k] - self._before[k], 3)
                       for k in after if k in self._before}
        self.result["mem_before"], self.result["mem_after"] = self.mem_before, meminfo_mib()


class Poller:
    """Calls poll() every `period` s on a thread while inside `with`, and
    once more on leaving it (what the work did last is sampled too)."""

    def __init__(self, period):
        self.period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def poll(self):
        raise NotImplementedError

    def _run(self):
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.period)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.poll()


class PeakWatcher(Poller):
    """Polls every `period` s the VmHWM of each descendant of `root` whose
    name is `name` (the sync_server a master forked), keeping the largest.
    The process tree is walked only every `rescan` s (a walk reads all of
    /proc: ~8 ms of CPU here), the processes found in between; in the first
    `early` s every `early_rescan` s, so that the process forked for a
    sync of a fraction of a second is found (walking every 0.5 s from the
    start, a sync of 500 messages that took 0.23 s came out at 12.4 MiB
    against ~18 at 200 and 1,000: the process that served it went unseen)."""

    def __init__(self, root, name, period=0.02, rescan=0.5, early=2.0, early_rescan=0.04):
        super().__init__(period)
        self.root, self.name, self.rescan = root, name, rescan
        self.early, self.early_rescan = early, early_rescan
        self.peak_kb, self.pids, self.cpu_s = 0, set(), {}
        self._scanned = 0.0
        self._started = time.monotonic()

    def poll(self):
        now = time.monotonic()
        every = self.early_rescan if now - self._started < self.early else self.rescan
        if now - self._scanned >= every:
            self.pids.update(p for p in descendants(self.root) if comm(p) == self.name)
            self._scanned = time.monotonic()
        for pid in self.pids:
            self.peak_kb = max(self.peak_kb, vm_hwm_kb(pid))
            self.cpu_s[pid] = max(self.cpu_s.get(pid, 0.0), cpu_seconds(pid))

    def cpu_seconds(self):
        """CPU time of the processes watched, as last seen (a process that
        outlived the watch is counted to its last poll)."""
        return round(sum(self.cpu_s.values()), 2)


def run_measured(argv, period=0.01, usage=None, **kw):
    """Runs argv to completion: (exit code, stdout, stderr, seconds, peak RSS
    KiB of the process itself). The peak is its VmHWM polled every `period`
    s (what it grows in its last period is missed), not wait4's ru_maxrss:
    Linux carries the RSS peak of the forking Python process over exec into
    ru_maxrss, so a small client would be reported as big as this script.
    With a dict as `usage`, its "cpu_s" is set to the process's user + system
    CPU time, from wait4()."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    out_chunks, err_chunks, peak = [], [], [0]
    done = threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], vm_hwm_kb(p.pid))
            done.wait(period)

    threads = [threading.Thread(target=lambda s=s, c=c: c.append(s.read()))
               for s, c in ((p.stdout, out_chunks), (p.stderr, err_chunks))]
    threads.append(threading.Thread(target=watch))
    for t in threads:
        t.start()
    _, status, rusage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - t0
    if usage is not None:
        usage["cpu_s"] = round(rusage.ru_utime + rusage.ru_stime, 2)
    done.set()
    for t in threads:
        t.join()
    return (p.returncode, out_chunks[0].decode(errors="replace"),
            err_chunks[0].decode(errors="replace"), seconds, peak[0])


class Replimail:
    """One replimail instance under its own master: role "primary" (LMTP,
    IMAP, sync log with `channels`, by default the one channel replica) or
    "replica" (sync_server, IMAP). `daemons`: extra cyrus.conf DAEMON
    entries, {name: command line} ("-C <imapd.conf>" is added after the
    program name), e.g. the sync log daemon."""

    def __init__(self, bin_dir, state, role, replica_sync_port=0, channels=("replica",),
                 daemons=None):
        self.bin, self.dir, self.role = bin_dir, os.path.join(state, role), role
        self.channels, self.daemons = list(channels), dict(daemons or {})
        self.ports = {"imap": free_port()}
        if role == "primary":
            self.ports["lmtp"] = free_port()
        else:
            self.ports["csync"] = free_port()
        self.replica_sync_port = replica_sync_port
        self.conf = os.path.join(self.dir, "etc", "imapd.conf")
        self.proc = None

    def start(self):
        for sub in ("etc", "conf", "spool", "log", "run"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        lines = ["configdirectory: %s/conf" % self.dir, "defaultpartition: default",
                 "partition-default: %s/spool" % self.dir,
                 "servername: replimail-%s" % self.role, "admins: admin",
                 "sasl_pwcheck_method: auxprop", "sasl_auxprop_plugin: sasldb",
                 "sasl_sasldb_path: %s/etc/sasldb2" % self.dir, "sasl_mech_list: PLAIN",
                 "allowplaintext: yes", "maxmessagesize: 104857600"]
        if self.role == "primary":
            lines += ["sync_log: 1", "sync_log_channels: " + " ".join(self.channels),
                      "sync_authname: admin", "sync_password: adminpw",
                      "replica_sync_host: 127.0.0.1",
                      "replica_sync_port: %d" % self.replica_sync_port]
        else:
            lines += ["sync_log: 0"]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        svc = {"imap": "imapd", "lmtp": "lmtpd -a", "csync": "sync_server"}
        with open(os.path.join(self.dir, "etc", "cyrus.conf"), "w") as f:
            f.write("SERVICES {\n")
            for name, port in self.ports.items():
                prog, _, args = svc[name].partition(" ")
                cmd = " ".join(x for x in (prog, "-C", self.conf, args) if x)
                f.write('  %s cmd="%s" listen="127.0.0.1:%d" prefork=1\n' % (name, cmd, port))
            f.write("}\n")
            if self.daemons:
                f.write("DAEMON {\n")
                for name, line in self.daemons.items():
                    prog, _, args = line.partition(" ")
                    cmd = " ".join(x for x in (prog, "-C", self.conf, args) if x)
                    f.write('  %s cmd="%s"\n' % (name, cmd))
                f.write("}\n")
        for user, pw in (("admin", "adminpw"), (USER, PASSWORD)):
            subprocess.run(["saslpasswd2", "-p", "-c", "-f", self.dir + "/etc/sasldb2", "-u",
                            "replimail-" + self.role, user], input=pw.encode(), check=True)
        self.proc = subprocess.Popen(
            [self.bin + "/master", "-C", self.conf, "-M", self.dir + "/etc/cyrus.conf", "-p",
             self.dir + "/run/master.pid", "-D"],
            stdout=open(self.dir + "/log/master.log", "ab"), stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        wait_ports(list(self.ports.values()))
        log("replimail %s: master pid %d, ports %s" % (self.role, self.proc.pid, self.ports))

    def create_user(self, name=USER):
        subprocess.run([self.bin + "/cyr_mbox", "-C", self.conf, "create", "user." + name],
                       check=True, stdout=subprocess.DEVNULL)

    def master_pid(self):
        return self.proc.pid

    def sync_argv(self, replica):
        return [self.bin + "/sync_client", "-C", self.conf, "-v", "-S",
                "127.0.0.1:%d" % replica.ports["csync"], "-u", USER]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class CyrusPeer:
    """The reference peer's Cyrus 3.6 primary + replica in `state`, on free
    ports (setup.sh creates both; the primary logs to `channels`, by default
    the one channel "replica", which sync_argv() drains)."""

    def __init__(self, state, channels=("replica",)):
        self.dir = state
        # setup.sh writes $CHANNEL as sync_log_channels (and uses it nowhere
        # else unless its rolling client runs), so a list fits there.
        self.env = dict(os.environ,
                        PRIMARY_IMAP_PORT=str(free_port()), PRIMARY_LMTP_PORT=str(free_port()),
                        REPLICA_IMAP_PORT=str(free_port()), REPLICA_SYNC_PORT=str(free_port()),
                        CHANNEL=" ".join(channels))
        self.primary = {"imap": int(self.env["PRIMARY_IMAP_PORT"]),
                        "lmtp": int(self.env["PRIMARY_LMTP_PORT"])}
        self.replica = {"imap": int(self.env["REPLICA_IMAP_PORT"]),
                        "csync": int(self.env["REPLICA_SYNC_PORT"])}

    @staticmethod
    def why_unavailable():
        if os.geteuid() != 0:
            return "the Cyrus peer needs root"
        if not os.access(PEER_HOME + "/setup.sh", os.X_OK):
            return "no peer scripts in %s" % PEER_HOME
        return ""

    def start(self):
        r = subprocess.run([PEER_HOME + "/setup.sh", self.dir], env=self.env,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("cyrus setup.sh failed:\n" + r.stdout[-2000:] + r.stderr[-3000:])
        imap = imaplib.IMAP4("127.0.0.1", self.primary["imap"])
        imap.login("admin", "adminpw")
        typ, data = imap.create("user/" + USER)
        if typ != "OK":
            raise RuntimeError("cyrus: CREATE user/%s: %r" % (USER, data))
        imap.logout()
        log("cyrus: primary %s, replica %s, state %s" % (self.primary, self.replica, self.dir))

    def master_pid(self, inst):
        with open(os.path.join(self.dir, inst, "run", "master.pid")) as f:
            return int(f.read().strip())

    def create_users(self, names):
        imap = imaplib.IMAP4("127.0.0.1", self.primary["imap"])
        imap.login("admin", "adminpw")
        for name in names:
            typ, data = imap.create("user/" + name)
            if typ != "OK":
                raise RuntimeError("cyrus: CREATE user/%s: %r" % (name, data))
        imap.logout()

    # What setup.sh's make_instance() creates under an instance's conf/ (what
    # Debian's cyrus-makedirs / upstream mkimap create).
    CONF_DIRS = ("db", "proc", "socket", "log", "msg", "user", "quota", "lock", "sync", "ptclient")

    def empty_replica(self):
        """Makes the replica empty again, so that the next sync_client -u USER
        is a true initial sync: its cyrmaster stopped (stop.sh, by PID), its
        conf/ and spool/ emptied and laid out as setup.sh does, its databases
        initialised (ctl_cyrusdb -r as cyrus), restarted (start.sh); etc/
        (configs, sasldb) kept. A DELETE of the user over IMAP is not enough:
        Cyrus's delayed delete keeps the mailbox (DELETED.user.USER.<hex>, same
        uniqueid, its files) and the next sync renames it back and uploads only
        the messages it lacks; with the deleted mailbox expunged (cyr_expire
        -D 0), the replica's mailboxes.db keeps a tombstone of the uniqueid and
        refuses the mailbox (IMAP_MAILBOX_MOVED). Returns the new master PID."""
        self._peer_script("stop.sh", "replica")
        self._lay_out_replica()
        self._peer_script("start.sh", "replica")
        return self.master_pid("replica")

    def _peer_script(self, script, *args):
        r = subprocess.run([PEER_HOME + "/" + script, self.dir] + list(args), env=self.env,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("cyrus %s %s failed:\n%s%s"
                               % (script, " ".join(args), r.stdout[-1000:], r.stderr[-2000:]))

    def _lay_out_replica(self):
        d = os.path.join(self.dir, "replica")
        uid, gid = pwd.getpwnam("cyrus").pw_uid, grp.getgrnam("mail").gr_gid
        for sub in ("conf", "spool"):
            shutil.rmtree(os.path.join(d, sub))
        dirs = [os.path.join(d, "conf", s) for s in self.CONF_DIRS]
        dirs.append(os.path.join(d, "spool", "stage."))
        for path in dirs:
            os.makedirs(path)
        for path in dirs + [os.path.join(d, "conf"), os.path.join(d, "spool")]:
            os.chown(path, uid, gid)
        os.chmod(os.path.join(d, "conf"), 0o750)
        os.chmod(os.path.join(d, "spool"), 0o750)
        subprocess.run(["setpriv", "--reuid=cyrus", "--regid=mail", "--init-groups", "--",
                        CYRUS_BIN + "/ctl_cyrusdb", "-C", d + "/etc/imapd.conf", "-r"],
                       check=True, capture_output=True)

    def sync_argv(self):
        return ["setpriv", "--reuid=cyrus", "--regid=mail", "--init-groups", "--",
                CYRUS_BIN + "/sync_client", "-C", self.dir + "/primary/etc/imapd.conf",
                "-n", "replica", "-v", "-u", USER]

    def stop(self):
        if os.path.exists(os.path.join(self.dir, ".cyrus-peer")):
            subprocess.run([PEER_HOME + "/stop.sh", self.dir], env=self.env,
                           capture_output=True)


SYNC_CALLS = ("fsync", "fdatasync", "sync_file_range", "syncfs")
_SYNC_LINE = re.compile(r"^(\d+)\s+(%s)\((\d+)(?:<([^>]*)>)?" % "|".join(SYNC_CALLS))


def _path_class(path, roots):
    """A durable-write target without what varies per message or user: the
    path under its instance's state folder, each component holding a digit
    (uids, uniqueids, user names such as bench8) or one character (Cyrus's
    hash folders) as *, but for channel names (sync/<channel>/)."""
    for root in roots:
        if path == root or path.startswith(root + "/"):
            path = os.path.relpath(path, root)
            break
    parts = path.split("/")
    return "/".join(c if i and parts[i - 1] == "sync" else
                    "*" if re.search(r"\d", c) or len(c) == 1 else c
                    for i, c in enumerate(parts))


class FsyncCounter:
    """Counts the fsync-family calls (fsync, fdatasync, sync_file_range,
    syncfs) of a process tree while inside `with`: strace -f -y attached to
    the root and every process under it at entry (-f follows what they fork
    later), each call written to a file with its descriptor's path. Calls
    made through O_SYNC/O_DSYNC writes are not seen (neither side uses them
    on its delivery path). Tracing slows the traced processes: time nothing
    while it is attached. After the block: total, by_call, by_target
    ({path class: calls}, see _path_class)."""

    def __init__(self, root_pid, out_path, roots=()):
        self.root, self.out, self.roots = root_pid, out_path, list(roots)
        self.proc = None
        self.total, self.by_call, self.by_target = 0, {}, {}

    def __enter__(self):
        pids = [self.root] + descendants(self.root)
        argv = ["strace", "-f", "-y", "-qq", "-e", "signal=none", "-e",
                "trace=" + ",".join(SYNC_CALLS), "-o", self.out]
        for pid in pids:
            argv += ["-p", str(pid)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("strace exited %d: %s" % (self.proc.returncode,
                                                            self.proc.stderr.read()[-500:]))
            if all(self._tracer(p) in (self.proc.pid, None) for p in pids):
                return self
            time.sleep(0.05)
        raise RuntimeError("strace did not attach to %s within 20 s" % pids)

    @staticmethod
    def _tracer(pid):
        """TracerPid of a live process; None if it is gone."""
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("TracerPid:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        with open(self.out, errors="replace") as f:
            for line in f:
                m = _SYNC_LINE.match(line)
                if not m:
                    continue
                call, target = m.group(2), _path_class(m.group(4) or "?", self.roots)
                self.total += 1
                self.by_call[call] = self.by_call.get(call, 0) + 1
                self.by_target[target] = self.by_target.get(target, 0) + 1
        self.by_target = dict(sorted(self.by_target.items(), key=lambda kv: -kv[1]))


def deliver(port, n, conns, seed, label, first=0, rcpt=USER):
    """bench/lmtp_delivery.py: corpus messages first..first+n-1 to `rcpt`
    over `conns` connections; its JSON (delivered, seconds, msgs_per_s, ...)."""
    r = subprocess.run([sys.executable, BENCH + "/lmtp_delivery.py", "--port", str(port),
                        "--rcpt", rcpt, "-n", str(n), "--first", str(first), "-c", str(conns),
                        "--seed", str(seed), "--label", label], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("delivery to %s failed: %s %s" % (label, r.stdout, r.stderr[-2000:]))
    return json.loads(r.stdout)


def _append_worker(port, first, n, conns, batch, seed, k, out):
    from corpus import internaldate, message
    try:
        c = imap_session(port)
        done, nbytes = 0, 0
        for start in range(first + k * batch, first + n, conns * batch):
            parts = [b"APPEND INBOX"]
            for i in range(start, min(start + batch, first + n)):
                _, msg = message(seed, i, USER)
                date = time.strftime("%d-%b-%Y %H:%M:%S +0000", time.gmtime(internaldate(seed, i)))
                parts.append(b'() "%s" {%d+}\r\n%s' % (date.encode(), len(msg), msg))
                nbytes += len(msg)
            c.command(b" ".join(parts))
            done += len(parts) - 1
        c.command("LOGOUT")
        out.put((done, nbytes, None))
    except Exception as e:  # noqa: BLE001 — the parent reports it
        out.put((0, 0, repr(e)))


def append(port, n, conns, seed, label, first=0, batch=100):
    """IMAP MULTIAPPEND (RFC 3502, LITERAL+) of corpus messages first..first+n-1
    to USER's INBOX, `batch` per command, over `conns` sessions, INTERNALDATE
    the corpus's: the fast way to fill a mailbox on both sides (one
    transaction per command). Messages are made inside the timed part.
    Returns deliver()'s fields (delivered, seconds, msgs_per_s, ...)."""
    out = mp.Queue()
    procs = [mp.Process(target=_append_worker, args=(port, first, n, conns, batch, seed, k, out))
             for k in range(conns)]
    t0 = time.monotonic()
    for p in procs:
        p.start()
    got = [out.get() for _ in procs]
    seconds = time.monotonic() - t0
    for p in procs:
        p.join()
    errors = [g[2] for g in got if g[2]]
    done, nbytes = sum(g[0] for g in got), sum(g[1] for g in got)
    if errors or done != n:
        raise RuntimeError("append to %s: %d of %d appended: %s" % (label, done, n, errors[:3]))
    return {"label": label, "n": n, "first": first, "conns": conns, "batch": batch,
            "delivered": done, "bytes": nbytes, "seconds": round(seconds, 3),
            "msgs_per_s": round(done / seconds, 1), "mb_per_s": round(nbytes / seconds / 1e6, 2)}


def status(port, mailbox="INBOX"):
    """(MESSAGES, UIDNEXT) of USER's mailbox."""
    imap = imaplib.IMAP4("127.0.0.1", port)
    imap.login(USER, PASSWORD)
    typ, data = imap.status(mailbox, "(MESSAGES UIDNEXT)")
    imap.logout()
    words = data[0].decode().replace("(", " ").replace(")", " ").split()
    return int(words[words.index("MESSAGES") + 1]), int(words[words.index("UIDNEXT") + 1])


def machine():
    """Where and under what load a figure was taken."""
    info = {"cores": os.cpu_count(), "kernel": " ".join(platform.uname()[i] for i in (0, 2, 4)),
            "loadavg": [round(x, 2) for x in os.getloadavg()]}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next(line.split(":", 1)[1].strip() for line in f
                               if line.startswith("model name"))
        with open("/proc/meminfo") as f:
            info["mem_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
    except (OSError, StopIteration):
        pass
    return info


def write_result(path, doc):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
    log("results written to %s" % path)


def ratio(a, b):
    return round(a / b, 2) if a and b else None



class TreePeaks(Poller):
    """The largest VmHWM (KiB) per program name (comm) over every process of
    each side: all descendants of the roots given to watch(side, pid), the
    roots included, polled every `period` s by a thread; plus what note()
    is told about clients the script ran itself (their wait4 ru_maxrss).
    result() is the contract's "peak_rss_kib": {side: {comm: KiB}}.
    A process living shorter than `period` may be missed; one that grows
    after the last poll before it exits is seen at that poll's size."""

    def __init__(self, period=0.25):
        super().__init__(period)
        self._roots, self._peaks = {}, {}
        self._lock = threading.Lock()

    def watch(self, side, pid):
        with self._lock:
            self._roots.setdefault(side, set()).add(pid)
            self._peaks.setdefault(side, {})

    def note(self, side, name, kib):
        with self._lock:
            peaks = self._peaks.setdefault(side, {})
            peaks[name] = max(peaks.get(name, 0), kib)

    def poll(self):
        kids = children_map()
        with self._lock:
            roots = {side: set(pids) for side, pids in self._roots.items()}
        for side, pids in roots.items():
            todo, seen = list(pids), set()
            while todo:
                pid = todo.pop()
                if pid in seen:
                    continue
                seen.add(pid)
                todo.extend(kids.get(pid, []))
                kib = vm_hwm_kb(pid)
                if kib:
                    self.note(side, comm(pid), kib)

    def result(self):
        with self._lock:
            return {side: dict(sorted(p.items())) for side, p in self._peaks.items()}


def utc_now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def new_doc(benchmark, **extra):
    """The contract's result document, to be filled by add_figure()."""
    doc = {"benchmark": benchmark, "when": utc_now(), "machine_start": machine(),
           "figures": [], "peak_rss_kib": {}}
    doc.update(extra)
    return doc


def add_figure(doc, name, title, unit, better, n, replimail, cyrus):
    """Appends one figure; "ratio" is how many times better replimail is
    (replimail/cyrus if better is "higher", cyrus/replimail if "lower")."""
    assert better in ("higher", "lower")
    r = ratio(replimail, cyrus) if better == "higher" else ratio(cyrus, replimail)
    doc["figures"].append({"name": name, "title": title, "unit": unit, "better": better,
                           "n": n, "replimail": replimail, "cyrus": cyrus, "ratio": r})


def finish_doc(doc, peaks):
    doc["machine_end"] = machine()
    doc["peak_rss_kib"] = peaks.result()


def print_figures(doc):
    for f in doc["figures"]:
        print("%-34s n=%-7d replimail %10s | cyrus %10s %-6s | ratio %s"
              % (f["name"], f["n"], f["replimail"], f["cyrus"], f["unit"], f["ratio"]),
              flush=True)


LITERAL_MARK = re.compile(rb"\{(\d+)\}\r\n")
FETCH_START = rb"\* [0-9]+ FETCH "
FETCH_LINE = re.compile(FETCH_START)
UNTAGGED_NOT_FETCH = re.compile(rb"\n(?!" + FETCH_START + rb")\* ")


class RawImap:
    """A minimal IMAP client for timing: command() sends one command and
    reads every response byte up to its tagged completion (skipping over
    literals); returns (status line, untagged FETCH count, SEARCH numbers,
    bytes read). A tagged NO/BAD raises RuntimeError.

    The response is parsed in bulk, a received piece at a time, by regular
    expressions over the bytes between literals: a loop in Python per
    response line cost ~0.9 us a line, ~90 ms for FETCH 1:* at 100,000
    messages whichever server answered, which hid the servers' own time
    (docs/PERFORMANCE.md, "The benchmark client")."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        # One buffer that keeps its pages, filled by recv_into: a fresh
        # bytes object per recv (and another to join it to the rest) costs
        # page faults and copies comparable to the parsing itself.
        self.buf, self.pos, self.tag = bytearray(), 0, 0
        self.piece = memoryview(bytearray(1 << 20))
        self._line()  # greeting

    def _fill(self):
        n = self.sock.recv_into(self.piece)
        if not n:
            raise RuntimeError("server closed the connection")
        del self.buf[:self.pos]
        self.buf += self.piece[:n]
        self.pos = 0

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos:i])
                self.pos = i + 2
                return line
            self._fill()

    def _skip(self, n):
        while len(self.buf) - self.pos < n:
            n -= len(self.buf) - self.pos
            self.pos = len(self.buf)
            self._fill()
        self.pos += n

    def _tagged_at(self, done, start, end, line_start):
        """Where the tagged completion line begins in buf[start:end], or -1."""
        if line_start and self.buf.startswith(done, start):
            return start
        i = self.buf.find(b"\n" + done, start, end)
        return i + 1 if i >= 0 else -1

    def _count(self, start, end, found, line_start):
        """Untagged FETCH lines that begin in buf[start:end] (whole lines, no
        literal inside); the numbers of SEARCH lines go into found. Every
        "\\n* " there begins an untagged line (a quoted string holds no
        CR or LF); those that are not "* <n> FETCH " are the few to find."""
        buf, fetches = self.buf, 0
        if line_start and start < end and buf.startswith(b"* ", start):
            first = buf[start:buf.find(b"\r\n", start, end)]
            fetches += bool(FETCH_LINE.match(first))
            if first.startswith(b"* SEARCH"):
                found += [bytes(x) for x in first.split()[2:]]
        fetches += buf.count(b"\n* ", start, end)
        fetches -= len(UNTAGGED_NOT_FETCH.findall(buf, start, end))
        i = buf.find(b"\n* SEARCH", start, end)
        while i >= 0:
            found += [bytes(x) for x in buf[i + 1:buf.find(b"\r\n", i, end)].split()[2:]]
            i = buf.find(b"\n* SEARCH", i + 1, end)
        return fetches

    def command(self, text):
        """text: str, or bytes sent as they are (e.g. literals of mail)."""
        self.tag += 1
        tag = b"b%d" % self.tag
        raw = text if isinstance(text, bytes) else text.encode()
        self.sock.sendall(tag + b" " + raw + b"\r\n")
        done = tag + b" "
        fetches, found, nbytes, line_start = 0, [], 0, True
        while True:
            limit = self.buf.rfind(b"\r\n", self.pos) + 2  # after the last whole line
            if limit < 2:
                self._fill()
                continue
            mark = LITERAL_MARK.search(self.buf, self.pos, limit)
            end = mark.end() if mark else limit
            at = self._tagged_at(done, self.pos, end, line_start)
            if at >= 0:
                fetches += self._count(self.pos, at, found, line_start)
                nbytes += at - self.pos
                self.pos = at
                line = self._line()
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError("%s: %r" % (raw[:200], line))
                return line, fetches, found, nbytes + len(line) + 2
            fetches += self._count(self.pos, end, found, line_start)
            nbytes += end - self.pos
            self.pos = end
            line_start = not mark
            if mark:
                size = int(mark.group(1))  # before _skip moves the buffer under mark
                self._skip(size)
                nbytes += size

    def command_unparsed(self, text):
        """Sends one command and reads until its tagged completion without
        looking at the lines before it: what the client costs per response
        line is left out, so the time is the server's (and the kernel's).
        Returns the bytes read. command() has checked the same answer."""
        self.tag += 1
        tag = b"b%d" % self.tag
        raw = text if isinstance(text, bytes) else text.encode()
        self.sock.sendall(tag + b" " + raw + b"\r\n")
        done, tail, nbytes = b"\r\n" + tag + b" ", bytes(self.buf[self.pos:]), 0
        self.buf, self.pos = bytearray(), 0
        while True:
            at = tail.find(done)
            if at >= 0 and tail.endswith(b"\r\n"):
                if not tail[at + len(done):].startswith(b"OK"):
                    raise RuntimeError("%s: %r" % (raw[:200], tail[at:]))
                return nbytes + len(tail)
            data = self.sock.recv(1 << 20)
            if not data:
                raise RuntimeError("server closed the connection")
            keep = max(0, len(tail) - 256)
            nbytes += keep
            tail = tail[keep:] + data

    def close(self):
        self.sock.close()


def imap_session(port, user=USER, password=PASSWORD):
    c = RawImap(port)
    c.command("LOGIN %s %s" % (user, password))
    return c
