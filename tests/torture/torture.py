#!/usr/bin/env python3
"""Torture test: many concurrent clients on the same few mailboxes of a
primary with a rolling replica, every response checked against a model
(model.py), then the stores checked whole.

usage: torture.py --bin BUILD/bin [--seconds 40 | --minutes 10] [--seed N]
                  [--state DIR] [--keep] [--conf "expunge_mode: delayed" ...]

Starts a primary (lmtpd, imapd, pop3d with prefork 2; rolling sync_client
and squatter -R under master) and a replica (sync_server, imapd, its own
squatter -R) on free loopback ports, creates alice's and bob's INBOX and
Work, and runs for the given time: LMTP deliverers, IMAP clients (SELECT,
FETCH, STORE +-FLAGS with keywords, APPEND, COPY, EXPUNGE, SEARCH, LOGOUT),
POP3 clients (RETR, DELE, QUIT), with `reconstruct -n` run on both
instances every few seconds. Then: every mailbox read whole and checked
against the model; primary equal to replica (cyr_digest, else the stores
read with cyr_mbox); `reconstruct -n` clean on both; both masters stopped;
PRAGMA integrity_check on every SQLite database of both.

Prints what it did and every failure; the last line is
"torture: N passed, M failed" (checks). Exit 0 when nothing failed.
"""
import argparse
import os
import random
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
from tortlib import log  # noqa: E402


def create_mailboxes(primary):
    for mboxes in clients.MAILBOXES.values():
        for mbox in mboxes:
            rc, out, err = primary.tool("cyr_mbox", "create", mbox)
            if rc != 0:
                raise RuntimeError("cyr_mbox create %s: %s %s" % (mbox, out, err))


def maintenance(model, instances, stop, period):
    """reconstruct -n on each instance every `period` s, meanwhile."""
    while not stop.wait(period):
        for inst in instances:
            bad = tortlib.reconstruct_clean(inst)
            model.count("reconstruct -n runs")
            if bad:
                model.fail("during the run: " + bad)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--seconds", type=float, default=40)
    ap.add_argument("--minutes", type=float)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--state")
    ap.add_argument("--keep", action="store_true", help="keep the state folder")
    ap.add_argument("--imap", type=int, default=6, help="IMAP clients")
    ap.add_argument("--lmtp", type=int, default=3, help="LMTP clients")
    ap.add_argument("--pop3", type=int, default=2, help="POP3 clients")
    ap.add_argument("--conf", action="append", default=[],
                    help="an imapd.conf line for both instances, e.g. 'expunge_mode: delayed'")
    a = ap.parse_args()
    seconds = a.minutes * 60 if a.minutes else a.seconds
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tortlib.become_subreaper()
    state = a.state or tempfile.mkdtemp(prefix="torture.")
    log("torture: seed %d, %d s, state %s" % (a.seed, seconds, state))
    rand = random.Random(a.seed)
    model = Model(strict=True)
    replica = tortlib.Instance(os.path.abspath(a.bin), state, "replica", extra_conf=a.conf)
    primary = tortlib.Instance(os.path.abspath(a.bin), state, "primary", replica=replica,
                               extra_conf=a.conf)
    checks = {}
    ok = False
    try:
        replica.start()
        primary.start()
        create_mailboxes(primary)
        stop = threading.Event()
        port = lambda svc: (lambda: primary.ports[svc])  # noqa: E731
        workers = []
        for i in range(a.lmtp):
            workers.append(clients.LmtpClient(model, "L%d" % i, stop, rand.random(), port("lmtp"),
                                              rate=15))
        for i in range(a.imap):
            workers.append(clients.ImapClient(model, "I%d" % i, stop, rand.random(), port("imap"),
                                              owner=i, rate=30))
        for i in range(a.pop3):
            workers.append(clients.Pop3Client(model, "P%d" % i, stop, rand.random(), port("pop3"),
                                              rate=5))
        threads = [threading.Thread(target=w.run, daemon=True) for w in workers]
        threads.append(threading.Thread(target=maintenance, args=(model, [primary, replica], stop,
                                                                  5), daemon=True))
        t0 = time.monotonic()
        for t in threads:
            t.start()
        next_report = t0 + 30
        while time.monotonic() - t0 < seconds:
            time.sleep(0.5)
            tortlib.reap_orphans()
            if time.monotonic() >= next_report:
                next_report += 30
                log("%d s: %s" % (time.monotonic() - t0, dict(model.counts)))
        stop.set()
        for t in threads:
            t.join(120)
        log("load done: %s" % dict(model.counts))

        converged, how = tortlib.wait_converged(primary, replica, 60)
        checks["replica equal to primary"] = "" if converged else how
        if converged:
            log("replica equal to primary %.1f s after the load stopped" % how)
        sizes = clients.final_check(model, primary.ports["imap"], "final listing (primary)")
        log("final mailboxes: %s" % sizes)
        checks["model (every response and the final listing)"] = "\n".join(model.failures[:50])
        checks["reconstruct -n primary"] = tortlib.reconstruct_clean(primary)
        checks["reconstruct -n replica"] = tortlib.reconstruct_clean(replica)
        checks["master primary stops"] = "" if primary.stop() == 0 else "exit %s" % primary.proc.returncode
        checks["master replica stops"] = "" if replica.stop() == 0 else "exit %s" % replica.proc.returncode
        for inst in (primary, replica):
            dbs = inst.databases()
            bad = tortlib.integrity(inst)
            log("%s: PRAGMA integrity_check on %d databases: %d not ok"
                % (inst.role, len(dbs), len(bad)))
            checks["integrity_check %s (%d databases)" % (inst.role, len(dbs))] = "\n".join(
                "%s: %s" % b for b in bad)
        for inst in (primary, replica):
            if "SERVERBUG" in inst.master_log():
                checks["no SERVERBUG in %s's log" % inst.role] = "\n".join(
                    l for l in inst.master_log().splitlines() if "SERVERBUG" in l)[:2000]
        log("figures: %s" % dict(sorted(model.counts.items())))
        failed = [k for k, v in checks.items() if v]
        for k, v in checks.items():
            print("%s %s%s" % ("FAIL" if v else "ok  ", k, ("\n    " + v.replace("\n", "\n    "))
                                if v else ""), flush=True)
        print("torture: %d passed, %d failed" % (len(checks) - len(failed), len(failed)),
              flush=True)
        ok = not failed
    finally:
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
