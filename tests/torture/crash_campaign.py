#!/usr/bin/env python3
"""Crash campaign: SIGKILLs at random moments across lmtpd, imapd, pop3d,
sync_client, sync_server, squatter, sync_logd and master, on a primary and its rolling
replica, while LMTP deliveries, IMAP changes and POP3 sessions go on.

usage: crash_campaign.py --bin BUILD/bin [--kills 20 | --kills 200] [--seed N]
                         [--interval 2.5] [--state DIR] [--keep]

Each kill picks, among the kinds of process running at that moment, the one
killed least so far (so every kind gets its share), and a random process of
it; only processes descending from a master this script started are ever
killed (read from /proc). A killed master is restarted with the same
command line after 0.5 s, as an init system does (again every 2 s while it
fails to start). When the last kill is done the load stops, and the script
measures how long after the last kill the replica equals the primary
(cyr_digest, else the stores read with cyr_mbox). Then: every mailbox read
whole and checked against the model (0 acknowledged messages lost, 0
duplicated, every acknowledged keyword change and expunge present); on each
instance, UID SEARCH BODY for 25 messages per mailbox answers exactly the
UIDs holding them (the full-text index, whose squatter was killed too, and
the scan where it does not cover); every SQLite database passes PRAGMA
integrity_check; `reconstruct -n` finds
nothing but what a kill may leave by design (a message file linked but never
committed, a dead process's staging file).

Prints the figures (kills by process, acknowledged, lost, duplicated, time
to converge, master start failures) as a JSON line starting "figures:", and
"crash_campaign: N passed, M failed" last. Exit 0 when nothing failed.
"""
import argparse
import collections
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import clients  # noqa: E402
import tortlib  # noqa: E402
from model import Model  # noqa: E402
from tortlib import Imap, log  # noqa: E402

KINDS = {"primary": ("master", "lmtpd", "imapd", "pop3d", "sync_client", "squatter", "sync_logd"),
         "replica": ("master", "sync_server", "imapd", "squatter", "sync_logd")}
CONVERGE_LIMIT = 10.0
# What reconstruct -n may find after kills without anything being wrong.
BENIGN = ("orphan-file", "stale-stage")


class ReplicaReader(clients.Client):
    """Reads the replica over IMAP (EXAMINE, FETCH), so that there are
    replica imapds to kill; what it reads is not checked (the replica lags)."""

    def __init__(self, model, name, stop, seed, port):
        super().__init__(model, name, stop, seed)
        self.port = port

    def session(self):
        user = self.rand.choice(list(clients.MAILBOXES))
        c = Imap(self.port())
        try:
            c.command("LOGIN %s %s" % (user, tortlib.USERS[user]))
            for _ in range(self.rand.randint(1, 10)):
                if self.stop.is_set():
                    break
                c.command("EXAMINE %s" % clients.imap_name(
                    self.rand.choice(clients.MAILBOXES[user])))
                c.command("UID FETCH 1:* (UID FLAGS)")
                self.stop.wait(0.3)
            c.command("LOGOUT")
        finally:
            c.close()
            for bug in c.serverbugs:
                self.model.fail("%s: %s" % (self.name, bug))


class Supervisor:
    """Restarts a dead master the way an init system does."""

    def __init__(self, instances, stop):
        self.instances, self.stop = instances, stop
        self.lock = threading.Lock()
        self.restarts = collections.Counter()
        self.failures = collections.Counter()  # exited before its ports accepted

    def run(self):
        while not self.stop.wait(0.5):
            for inst in self.instances:
                with self.lock:
                    if not inst.master_alive():
                        self.restart(inst)

    def restart(self, inst):
        inst.proc.wait()
        tortlib.reap_orphans()
        inst.start_master()
        self.restarts[inst.role] += 1
        if not inst.wait_ready(10):
            self.failures[inst.role] += 1
            log("%s: master restart %d did not come up (exit %s)"
                % (inst.role, self.restarts[inst.role], inst.proc.poll()))
            if inst.proc.poll() is None:
                return  # still starting (e.g. retrying a bind); leave it be
            time.sleep(2)

    def ensure_up(self, seconds=60):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self.lock:
                for inst in self.instances:
                    if not inst.master_alive():
                        self.restart(inst)
                if all(inst.master_alive() and inst.wait_ready(1) for inst in self.instances):
                    return True
            time.sleep(0.5)
        return False


def killer(instances, sup, kills, interval, rand, out, stop_load):
    """Kills `kills` processes, one every ~`interval` s; out gets the
    figures. Sets stop_load right after the last kill."""
    by_kind = collections.Counter()
    orphans = []
    n = -1
    while sum(by_kind.values()) < kills:
        n = sum(by_kind.values())
        time.sleep(rand.uniform(0.2, 2 * interval - 0.2))
        with sup.lock:
            stats = tortlib.all_stats()
            running = {}
            for inst in instances:
                for pid, comm in inst.processes(stats).items():
                    if comm in KINDS[inst.role]:
                        running.setdefault((inst.role, comm), []).append(pid)
            if not running:
                continue
            least = min(by_kind[k] for k in running)
            kind = rand.choice(sorted(k for k in running if by_kind[k] == least))
            pid = rand.choice(running[kind])
            inst = next(i for i in instances if i.role == kind[0])
            # Kill only a process of ours: the master we started or one of
            # its descendants, as read from /proc just now.
            if pid not in inst.processes():
                continue
            before = set(inst.processes()) - {pid} if kind[1] == "master" else set()
            os.kill(pid, signal.SIGKILL)
            by_kind[kind] += 1
            out["last_kill"] = time.monotonic()
        if before:
            orphans.append((inst, before, time.monotonic()))
        if n + 1 == kills:
            stop_load.set()
        if (n + 1) % 20 == 0:
            log("%d kills: %s" % (n + 1, dict(sorted(
                ("%s %s" % k, v) for k, v in by_kind.items()))))
    stop_load.set()
    # Workers of a killed master still alive 2 s after it (issue 13, item 3).
    survivors = 0
    for inst, pids, t in orphans:
        time.sleep(max(0, t + 2 - time.monotonic()))
        stats = tortlib.all_stats()
        survivors += sum(1 for p in pids if p in stats and stats[p][1] != "Z")
    out["by_kind"] = {"%s %s" % k: v for k, v in sorted(by_kind.items())}
    out["kills"] = sum(by_kind.values())
    out["workers alive 2 s after their master was killed"] = survivors


def reconstruct_findings(inst):
    """(benign lines, other lines) of `reconstruct -n`."""
    rc, out, err = inst.tool("reconstruct", "-n")
    benign, other = [], []
    if rc == 0:
        return benign, other
    for line in out.splitlines():
        (benign if any(": %s" % b in line for b in BENIGN) else other).append(line)
    if rc not in (0, 1) or (rc == 1 and not out.strip()):
        other.append("exit %d: %s" % (rc, err.strip()[:500]))
    return benign, other


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--interval", type=float, default=2.5, help="mean seconds between kills")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--state")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tortlib.become_subreaper()
    state = a.state or tempfile.mkdtemp(prefix="crash.")
    log("crash_campaign: seed %d, %d kills every ~%.1f s, state %s"
        % (a.seed, a.kills, a.interval, state))
    rand = random.Random(a.seed)
    model = Model(strict=False)
    replica = tortlib.Instance(os.path.abspath(a.bin), state, "replica")
    primary = tortlib.Instance(os.path.abspath(a.bin), state, "primary", replica=replica)
    checks, figures = {}, {}
    stop_sup, stop_load = threading.Event(), threading.Event()
    ok = False
    t_start = time.monotonic()
    try:
        replica.start()
        primary.start()
        for mboxes in clients.MAILBOXES.values():
            for mbox in mboxes:
                rc, out, err = primary.tool("cyr_mbox", "create", mbox)
                if rc != 0:
                    raise RuntimeError("cyr_mbox create %s: %s" % (mbox, err))
        sup = Supervisor([primary, replica], stop_sup)
        port = lambda inst, svc: (lambda: inst.ports[svc])  # noqa: E731
        workers = [clients.LmtpClient(model, "L%d" % i, stop_load, rand.random(),
                                      port(primary, "lmtp"), rate=10) for i in range(3)]
        workers += [clients.ImapClient(model, "I%d" % i, stop_load, rand.random(),
                                       port(primary, "imap"), owner=i, rate=10, copy=False)
                    for i in range(3)]
        workers.append(clients.Pop3Client(model, "P0", stop_load, rand.random(),
                                          port(primary, "pop3"), rate=3))
        workers.append(ReplicaReader(model, "R0", stop_load, rand.random(),
                                     port(replica, "imap")))
        threads = [threading.Thread(target=w.run, daemon=True) for w in workers]
        sup_thread = threading.Thread(target=sup.run, daemon=True)
        kill_out = {}
        kill_thread = threading.Thread(target=killer, args=([primary, replica], sup, a.kills,
                                                            a.interval, rand, kill_out,
                                                            stop_load), daemon=True)
        for t in threads + [sup_thread, kill_thread]:
            t.start()
        while kill_thread.is_alive():
            kill_thread.join(1)
            tortlib.reap_orphans()
        for t in threads:
            t.join(120)
        stop_sup.set()
        sup_thread.join()
        up = sup.ensure_up()
        checks["both masters up after the campaign"] = "" if up else "a master does not start"
        converged, how = tortlib.wait_converged(primary, replica, 180)
        since_kill = time.monotonic() - kill_out.get("last_kill", time.monotonic())
        if converged:
            figures["seconds from the last kill to replica == primary"] = round(since_kill, 1)
            checks["replica equal to primary within %d s of the last kill" % CONVERGE_LIMIT] = (
                "" if since_kill <= CONVERGE_LIMIT else "took %.1f s" % since_kill)
        else:
            checks["replica equal to primary within %d s of the last kill" % CONVERGE_LIMIT] = (
                "not equal %.0f s after the last kill:\n%s" % (since_kill, how))
        log("converged: %s after %.1f s" % (converged, since_kill))
        sizes = clients.final_check(model, primary.ports["imap"], "final listing (primary)")
        checks["0 acknowledged messages lost"] = (
            "" if not model.counts["lost"] else "%d lost" % model.counts["lost"])
        checks["0 duplicated"] = (
            "" if not model.counts["duplicated"] else "%d duplicated" % model.counts["duplicated"])
        checks["model (responses, flags, expunges, final listing)"] = "\n".join(
            model.failures[:50])
        time.sleep(3)  # the rolling squatters index what the last passes brought
        for inst in (primary, replica):
            wrong = clients.search_check(inst.ports["imap"], rand, 25)
            checks["SEARCH BODY exact on the %s (its squatter killed too)" % inst.role] = (
                "\n".join(wrong[:20]))
        for inst in (primary, replica):
            benign, other = reconstruct_findings(inst)
            figures["reconstruct -n %s: left by kills (orphan file, stale stage)" % inst.role] = (
                len(benign))
            checks["reconstruct -n %s: nothing but what kills leave" % inst.role] = "\n".join(
                other[:20])
        primary.stop()
        replica.stop()
        for inst in (primary, replica):
            bad = tortlib.integrity(inst)
            checks["integrity_check %s (%d databases)" % (inst.role, len(inst.databases()))] = (
                "\n".join("%s: %s" % b for b in bad))
        c = model.counts
        figures.update({
            "kills": kill_out.get("kills", 0), "kills by process": kill_out.get("by_kind", {}),
            "master restarts": dict(sup.restarts),
            "master restarts that did not come up in 10 s": dict(sup.failures),
            "workers alive 2 s after their master was killed":
                kill_out.get("workers alive 2 s after their master was killed"),
            "lmtp attempted": len(model.attempted) - c["appends acked"],
            "lmtp acknowledged": c["lmtp acked"], "appends acknowledged": c["appends acked"],
            "flag changes acknowledged": c["flag changes acked"],
            "expunges acknowledged": c["expunges acked"], "lost": c["lost"],
            "duplicated": c["duplicated"], "connection errors": c["connection errors"],
            "final mailbox sizes": sizes, "seconds": round(time.monotonic() - t_start),
            "seed": a.seed})
        print("figures: " + json.dumps(figures), flush=True)
        failed = [k for k, v in checks.items() if v]
        for k, v in checks.items():
            print("%s %s%s" % ("FAIL" if v else "ok  ", k, ("\n    " + v.replace("\n", "\n    "))
                                if v else ""), flush=True)
        print("crash_campaign: %d passed, %d failed" % (len(checks) - len(failed), len(failed)),
              flush=True)
        ok = not failed
    finally:
        # No restart behind our back (SIGTERM, an exception) while we stop.
        stop_sup.set()
        stop_load.set()
        time.sleep(1)
        primary.stop()
        replica.stop()
        left = tortlib.stop_leftovers()
        if left:
            log("killed leftover processes: %s" % left)
        if ok and not a.keep and not a.state:
            shutil.rmtree(state, ignore_errors=True)
        else:
            log("state kept in %s" % state)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
