"""Primary + replica pairs with rolling replication running, for the
replication benchmarks (bench/run-lag, bench/run-catchup), and a sampler of
the peak memory of every process of each pair.

Both systems run the way each is deployed: the rolling client under the
primary's master (DAEMON section), restarted by it when it exits.
  replimail  examples/run.sh: a primary and replica1, `sync_client -r -n
             replica1` in the primary's DAEMON section, free ports, state in
             a temporary folder; user testuser/testpw added on both.
  cyrus      the reference peer (../shared/peer/cyrus/setup.sh through
             benchlib.CyrusPeer, free ports) with ROLLING_IN_MASTER=1:
             `sync_client -r -n replica` in cyrmaster's DAEMON section,
             sync_repeat_interval 1s (Cyrus 3.6's default).
Every process is stopped by the PID recorded when it was started.
"""
import os
import signal
import subprocess
import time

import benchlib as bl

USER, PASSWORD = bl.USER, bl.PASSWORD


def wait_dead(pid, seconds=15):
    """SIGTERM to pid, KILL after `seconds`; returns once it is gone."""
    if not bl.alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + seconds
    while bl.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if bl.alive(pid):
        os.kill(pid, signal.SIGKILL)
        while bl.alive(pid):
            time.sleep(0.05)


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def connected_to(port):
    """True when a TCP connection to 127.0.0.1:port is established (read
    from /proc/net/tcp: the server side's local port)."""
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[3] == "01" and int(fields[1].split(":")[1], 16) == port:
                return True
    return False


def tail_matching(path, word, lines):
    try:
        with open(path, errors="replace") as f:
            return [x.rstrip() for x in f if word in x][-lines:]
    except OSError:
        return []


def wait_user(port, seconds):
    """Waits until USER can log in to `port` and STATUS its INBOX."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return bl.status(port)
        except Exception:  # noqa: BLE001 (not there yet: retried until the deadline)
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


class ReplimailPair:
    name = "replimail"

    def __init__(self, bin_dir, state):
        self.bin, self.state = bin_dir, state
        self.replica_proc = None

    def _conf(self, inst):
        return os.path.join(self.state, inst, "etc", "imapd.conf")

    def start(self):
        env = dict(os.environ, REPLIMAIL_FREE_PORTS="1", REPLIMAIL_REPLICAS="replica1",
                   REPLIMAIL_CHANNELS="replica1")
        with open(os.path.join(self.state, "run.log"), "w") as logf:
            r = subprocess.run([os.path.join(bl.ROOT, "examples", "run.sh"), self.bin,
                                self.state], env=env, stdout=logf, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            with open(os.path.join(self.state, "run.log")) as f:
                raise RuntimeError("examples/run.sh failed:\n" + f.read()[-3000:])
        ports = {}
        with open(os.path.join(self.state, "run", "ports")) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                ports[k] = int(v)
        self.lmtp, self.imap = ports["LMTP_PORT"], ports["IMAP_PORT"]
        self.replica_imap, self.replica_sync = ports["REPLICA1_IMAP_PORT"], ports[
            "REPLICA1_SYNC_PORT"]
        for inst in ("primary", "replica1"):
            subprocess.run(["saslpasswd2", "-p", "-c", "-f",
                            os.path.join(self.state, inst, "etc", "sasldb2"), "-u",
                            "replimail-" + inst, USER], input=PASSWORD.encode(), check=True)
        subprocess.run([self.bin + "/cyr_mbox", "-C", self._conf("primary"), "create",
                        "user." + USER], check=True, stdout=subprocess.DEVNULL)
        wait_user(self.replica_imap, 30)
        bl.log("replimail: primary LMTP %d IMAP %d, replica1 IMAP %d sync %d, state %s" % (
            self.lmtp, self.imap, self.replica_imap, self.replica_sync, self.state))

    def roots(self):
        pids = [read_pid(os.path.join(self.state, "run", f)) for f in ("master.pid",
                                                                        "replica1.pid")]
        return [p for p in pids if p]

    def replica_master_pid(self):
        return read_pid(os.path.join(self.state, "run", "replica1.pid"))

    def stop_replica(self):
        wait_dead(self.replica_master_pid())
        if self.replica_proc:
            self.replica_proc.wait()

    def start_replica(self):
        """Starts replica1's master again, as examples/run.sh does; returns
        once its sync_server and IMAP ports accept connections."""
        d = os.path.join(self.state, "replica1")
        pidfile = os.path.join(self.state, "run", "replica1.pid")
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        self.replica_proc = subprocess.Popen(
            [self.bin + "/master", "-C", d + "/etc/imapd.conf", "-M", d + "/etc/cyrus.conf", "-p",
             pidfile, "-D"], stdout=open(d + "/log/master.log", "ab"), stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        bl.wait_ports([self.replica_sync, self.replica_imap])

    def backlog_bytes(self):
        """Bytes waiting in the channel's sync log (log + log-run)."""
        d = os.path.join(self.state, "primary", "conf", "sync", "replica1")
        return file_size(d + "/log") + file_size(d + "/log-run")

    def client_log(self, pids, lines=12):
        """The last lines the rolling client logged (primary's master.log;
        `pids` unused: the log is this instance's own)."""
        return tail_matching(os.path.join(self.state, "primary", "log", "master.log"),
                             "replica1", lines)

    def stop(self):
        subprocess.run([os.path.join(bl.ROOT, "examples", "stop.sh"), self.state],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if self.replica_proc:
            self.replica_proc.wait()


class CyrusPair:
    name = "cyrus"

    def __init__(self, state):
        self.peer = bl.CyrusPeer(state)
        self.peer.env["ROLLING_IN_MASTER"] = "1"
        self.dir = state
        self.lmtp, self.imap = self.peer.primary["lmtp"], self.peer.primary["imap"]
        self.replica_imap, self.replica_sync = self.peer.replica["imap"], self.peer.replica["csync"]

    def start(self):
        self.peer.start()
        wait_user(self.replica_imap, 60)

    def _pid(self, inst):
        return read_pid(os.path.join(self.dir, inst, "run", "master.pid"))

    def roots(self):
        return [p for p in (self._pid("primary"), self._pid("replica")) if p]

    def replica_master_pid(self):
        return self._pid("replica")

    def stop_replica(self):
        wait_dead(self._pid("replica"))

    def start_replica(self):
        r = subprocess.run([bl.PEER_HOME + "/start.sh", self.dir, "replica"], env=self.peer.env,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("cyrus start.sh replica failed: " + r.stderr[-2000:])

    def backlog_bytes(self):
        d = os.path.join(self.dir, "primary", "conf", "sync", "replica")
        return file_size(d + "/log") + file_size(d + "/log-run")

    def client_log(self, pids, lines=12):
        """The last lines the sync_client processes `pids` logged (the peer's
        syslog sink, when this peer started it, serves every Cyrus instance
        of the machine: the PIDs pick ours)."""
        words = tuple("sync_client[%d]" % p for p in pids)
        try:
            with open(os.path.join(self.dir, "log", "syslog.log"), errors="replace") as f:
                return [x.rstrip() for x in f if any(w in x for w in words)][-lines:]
        except OSError:
            return []

    def stop(self):
        self.peer.stop()


class TreePeaks(bl.Poller):
    """Polls every `period` s every process under each side's roots (a
    callable returning the current root PIDs: masters restarted during the
    run are followed) and keeps the largest VmHWM per program name (comm):
    {side: {comm: KiB}}."""

    def __init__(self, sides, period=0.1):
        super().__init__(period)
        self.sides = sides
        self.peaks = {name: {} for name in sides}
        self.pids = {name: {} for name in sides}  # {side: {comm: frozenset of PIDs seen}}

    def poll(self):
        kids = bl.children_map()
        for name, roots in self.sides.items():
            peaks, todo = self.peaks[name], list(roots())
            while todo:
                pid = todo.pop()
                todo += kids.get(pid, [])
                kb, c = bl.vm_hwm_kb(pid), bl.comm(pid)
                if kb and c:
                    peaks[c] = max(peaks.get(c, 0), kb)
                    seen = self.pids[name].get(c, frozenset())
                    if pid not in seen:  # a new frozenset: readers on other threads see either
                        self.pids[name][c] = seen | {pid}

