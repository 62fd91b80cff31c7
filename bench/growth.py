#!/usr/bin/env python3
"""bench/growth.py — how costs grow with the mailbox: one INBOX on each side
(replimail, Cyrus 3.6) is loaded once, by steps, and measured at every step.
bench/run-initial-sync, bench/run-imap and bench/run run it.

usage: bench/growth.py [-n 1000,10000,100000] [--parts sync,imap] [-b BUILD_DIR]
                       [-o OUT.json] [-p PEER_DIR] [-c CONNS] [-r REPEAT]
                       [--seed S] [--load lmtp|append] [--no-peer] [--verify]
                       [--quick | --full]

  -n LIST     ascending mailbox sizes (default 1000,10000; --quick 200,500,1000;
              --full 1000,10000,100000)
  --parts P   what to measure at each size: sync (initial sync to an empty
              replica), imap (FETCH and SEARCH); default both
  -b DIR      replimail build directory holding bin/ (default ./build-release
              or $BUILD_DIR)
  -o FILE     JSON results (default bench/results/growth-<time>.json); it is
              rewritten after every size, "complete": false until the end
  -p DIR      state folder of the Cyrus peer (default /tmp/cyrus-peer-suite-growth)
  -c CONNS    LMTP connections loading each side (default 8)
  -r REPEAT   runs of each IMAP command, the median is the figure (default
              5 up to 3,000 messages, 3 up to 30,000, then 1)
  --load M    how each side's INBOX is filled: lmtp (default; bench/lmtp_delivery.py,
              one transaction per message) or append (IMAP MULTIAPPEND, 100
              messages per command, CONNS sessions: 3-4x faster on both sides;
              the default of --full, where loading 100,000 dominates)
  --verify    after each sync, compare each primary with its replica message
              by message through IMAP (tests/integration/py/sync_large_compare.py)
  --perf-sync N  record the whole machine (`perf record -a -g`, 499 Hz) during
              replimail's initial sync at every size >= N, into OUT.perf-<n>.data

At each size n, in this order:
  1. load: deliver corpus messages have..n-1 (bench/corpus.py, seed S) to
     testuser's INBOX on each primary, each after a sync(2) (untimed, logged:
     what the other side or the step before left unwritten is not flushed
     during the timed load), the side that goes first alternating from step
     to step (replimail at the first), over LMTP (figure
     lmtp_delivery_rate_growing) or IMAP MULTIAPPEND (imap_append_rate_growing); set \\Seen on every 2nd message, \\Flagged
     on every 7th, $Label1 on every 11th (over IMAP, as testuser);
  2. imap: in one session per side (EXAMINE INBOX) time each command from
     sending it to its tagged OK with every byte read, sides alternating,
     REPEAT times: FETCH 1:* (BODY.PEEK[HEADER]), FETCH 1:* (FLAGS),
     SEARCH SUBJECT "quarterly", SEARCH FLAGGED (SEARCH TEXT is
     bench/run-search's, with and without the index); the sides must find
     the same number of messages;
  3. sync: an empty replica for each side — a new replimail replica
     instance; on Cyrus, the peer's replica emptied (CyrusPeer.empty_replica:
     stopped, conf/ and spool/ laid out afresh, restarted; a DELETE of the
     user is not enough, Cyrus then finds the deleted mailbox by its uniqueid
     and uploads only what it lacks) — then, after a sync(2) that flushes
     what loading left unwritten (untimed: primary and replica share this
     machine's filesystem), one `sync_client -v -u testuser` timed on each (Cyrus's
     as the cyrus user, channel replica, COMPRESS on as Cyrus always does;
     replimail's without -z); sync_client's peak RSS by polling its VmHWM
     and its CPU time from wait4(), the replica's sync_server's peak and CPU
     time by polling every 20 ms, and the machine's CPU time by kind, page
     and pressure counters over the sync (recorded as machine_during); each
     replica must show its primary's MESSAGES and UIDNEXT afterwards.
After the last size (with sync measured at two sizes or more), the peak RSS
of sync_client and sync_server is EXTRAPOLATED to 1,000,000 messages along
the line through the two largest measured sizes (the growth per message at
the top of the curve; bounded buffers fill up at the small sizes; a falling
line is taken as flat at the largest peak measured), as
figures <prog>_peak_rss_extrapolated, n=1,000,000, whose title says they
were not measured; the bytes per message are printed.
Both sides run with their default durability (see docs/PERFORMANCE.md).
Exit status 1 if a check failed (the reason is printed), 2 on a usage error.
"""
import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

OPS = [("imap_fetch_headers", "FETCH 1:* (BODY.PEEK[HEADER])"),
       ("imap_fetch_flags", "FETCH 1:* (FLAGS)"),
       ("imap_search_subject", 'SEARCH SUBJECT "quarterly"'),
       ("imap_search_flagged", "SEARCH FLAGGED")]
MIB = 1024.0


def set_flags(port, first, n):
    """Flags on sequence numbers first+1..n (the messages just loaded)."""
    c = bl.imap_session(port)
    c.command("SELECT INBOX")
    for flag, step in (("\\Seen", 2), ("\\Flagged", 7), ("$Label1", 11)):
        seqs = [s for s in range(step, n + 1, step) if s > first]
        for i in range(0, len(seqs), 500):
            c.command("STORE %s +FLAGS.SILENT (%s)" % (",".join(map(str, seqs[i:i + 500])), flag))
    c.command("LOGOUT")
    c.close()


def measure_imap(doc, sides, n, repeat):
    sessions = {}
    for label, side in sides.items():
        sessions[label] = bl.imap_session(side["imap"])
        sessions[label].command("EXAMINE INBOX")
    raw = doc.setdefault("imap", {}).setdefault(str(n), {})
    for name, cmd in OPS:
        times = {label: [] for label in sessions}
        answers = {}
        for _ in range(repeat):
            for label, c in sessions.items():
                t0 = time.monotonic()
                _, fetched, found, nbytes = c.command(cmd)
                times[label].append(time.monotonic() - t0)
                answers[label] = {"fetched": fetched, "matches": len(found), "bytes": nbytes}
        entry = {"command": cmd}
        for label in sessions:
            entry[label] = dict(answers[label], runs_s=[round(t, 4) for t in times[label]])
        raw[name] = entry
        ms = {label: round(statistics.median(times[label]) * 1000, 1) for label in sessions}
        bl.add_figure(doc, name, cmd, "ms", "lower", n, ms["replimail"], ms.get("cyrus"))
        if "cyrus" in answers:
            a, b = answers["replimail"], answers["cyrus"]
            check(doc, "%s at n=%d: same answer" % (cmd, n),
                  a["fetched"] == b["fetched"] and a["matches"] == b["matches"],
                  "replimail %d fetched/%d found, cyrus %d/%d"
                  % (a["fetched"], a["matches"], b["fetched"], b["matches"]))
        bl.print_figures({"figures": doc["figures"][-1:]})
        measure_unparsed(doc, sessions, raw, n, repeat, name, cmd)
    for c in sessions.values():
        c.command("LOGOUT")
        c.close()


def measure_unparsed(doc, sessions, raw, n, repeat, name, cmd):
    """The same command timed with a client that only waits for the tagged
    completion (RawImap.command_unparsed): what the parsing client still
    costs (~15 ms of a FETCH 1:* at 100,000 response lines, the same on
    both sides) stays out of it (docs/PERFORMANCE.md, "The benchmark client")."""
    times = {label: [] for label in sessions}
    for _ in range(repeat):
        for label, c in sessions.items():
            t0 = time.monotonic()
            c.command_unparsed(cmd)
            times[label].append(time.monotonic() - t0)
    for label in sessions:
        raw[name][label]["unparsed_runs_s"] = [round(t, 4) for t in times[label]]
    ms = {label: round(statistics.median(times[label]) * 1000, 1) for label in sessions}
    bl.add_figure(doc, name + "_unparsed", cmd + " (client reads to the tagged line only)", "ms",
                  "lower", n, ms["replimail"], ms.get("cyrus"))
    bl.print_figures({"figures": doc["figures"][-1:]})


def read_spool(spool):
    """Reads every file under spool once: (bytes, seconds)."""
    t, nbytes = time.monotonic(), 0
    for root, _, files in os.walk(spool):
        for name in files:
            try:
                with open(os.path.join(root, name), "rb", buffering=0) as f:
                    while chunk := f.read(1 << 20):
                        nbytes += len(chunk)
            except OSError:
                pass
    return nbytes, time.monotonic() - t


def sync_once(label, argv, replica_master, peaks, primary_spool, perf_out=None):
    # Both instances of a side share this machine's filesystem, which a
    # primary and its replica would not: what loading the primary left
    # unwritten is flushed first, untimed, so that neither side's figure
    # pays for it (replimail's syncfs would flush it all; Cyrus's fsyncs,
    # of its own files only, mostly would not).
    t = time.monotonic()
    os.sync()
    bl.log("%s: sync(2) before the initial sync took %.2f s (untimed)"
           % (label, time.monotonic() - t))
    # And the primary's files are read once, untimed, so that both sides
    # start from its whole spool in the page cache: this machine's kernel
    # pages out what has not been touched for a minute (DAMON), and which
    # side's primary sat idle longer depends on the order of the loads (at
    # 100,000, replimail's waits out Cyrus's load), not on the program. A
    # slow read here says how much had been evicted.
    nbytes, seconds = read_spool(primary_spool)
    bl.log("%s: reading the primary's spool (%.1f MB) before the sync took %.2f s (untimed)"
           % (label, nbytes / 1e6, seconds))
    usage = {}
    # perf's start-up (it waits half a second) stays out of the machine's counters.
    with perf_record(perf_out), bl.SystemDelta() as system, \
            bl.PeakWatcher(replica_master, "sync_server", period=0.02) as w:
        code, out, err, seconds, client_kib = bl.run_measured(argv, usage=usage, cwd="/")
    if code != 0:
        raise RuntimeError("%s sync_client exit %d:\n%s\n%s" % (label, code, out, err[-3000:]))
    peaks.note(label, "sync_client", client_kib)
    bl.log("%s: CPU time sync_client %.2f s, sync_server %.2f s; machine: user %.2f, system "
           "%.2f, iowait %.2f, steal %.2f, idle %.2f s"
           % (label, usage["cpu_s"], w.cpu_seconds(), system.result["cpu_user_s"],
              system.result["cpu_system_s"], system.result["cpu_iowait_s"],
              system.result["cpu_steal_s"], system.result["cpu_idle_s"]))
    return {"seconds": round(seconds, 3), "sync_client_peak_rss_kib": client_kib,
            "sync_server_peak_rss_kib": w.peak_kb, "sync_client_cpu_s": usage["cpu_s"],
            "sync_server_cpu_s": w.cpu_seconds(), "machine_during": system.result,
            "client_output": out.strip()[-300:]}


@contextlib.contextmanager
def perf_record(path):
    """`perf record -a -g` of the whole machine while inside, into `path`
    (nothing when path is None): where a slow draw's time went."""
    if not path:
        yield
        return
    p = subprocess.Popen(["perf", "record", "-a", "-g", "-F", "499", "-o", path],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # perf maps every CPU's buffer before it records
    try:
        yield
    finally:
        p.send_signal(signal.SIGINT)
        p.wait()
        bl.log("perf record of the sync written to %s" % path)


def verify(doc, label, port_a, port_b, n):
    cmp = os.path.join(bl.ROOT, "tests", "integration", "py", "sync_large_compare.py")
    r = subprocess.run([sys.executable, cmp, "--a", str(port_a), "--b", str(port_b),
                        "--user", "%s:%s" % (bl.USER, bl.PASSWORD)],
                       capture_output=True, text=True)
    check(doc, "%s replica equals primary message by message at n=%d" % (label, n),
          r.returncode == 0, r.stdout.strip()[-300:] + r.stderr.strip()[-300:])


def check_replica(doc, a, label, primary_port, replica_port, n):
    """After an initial sync: the replica shows the primary's MESSAGES and
    UIDNEXT (and n messages); with --verify, message by message too."""
    want, got = bl.status(primary_port), bl.status(replica_port)
    check(doc, "%s replica shows the primary's (MESSAGES, UIDNEXT) at n=%d" % (label, n),
          want == got and want[0] == n, "primary %s, replica %s" % (want, got))
    if a.verify:
        verify(doc, label, primary_port, replica_port, n)


def measure_sync(doc, a, state, bin_dir, primary, cyrus, n, nbytes, peaks):
    runs = doc.setdefault("sync", {}).setdefault(str(n), {})
    replica = bl.Replimail(bin_dir, state, "replica-%d" % n)
    try:
        replica.start()
        peaks.watch("replimail", replica.master_pid())
        bl.log("replimail: initial sync of %d messages" % n)
        perf_out = (a.o or "growth") + ".perf-%d.data" % n if a.perf_sync and \
            n >= a.perf_sync else None
        runs["replimail"] = sync_once("replimail", primary.sync_argv(replica),
                                      replica.master_pid(), peaks,
                                      os.path.join(primary.dir, "spool"), perf_out)
        check_replica(doc, a, "replimail", primary.ports["imap"], replica.ports["imap"], n)
    finally:
        replica.stop()
        shutil.rmtree(replica.dir, ignore_errors=True)
    if cyrus:
        if doc["sync"].keys() - {str(n)}:
            peaks.watch("cyrus", cyrus.empty_replica())
        bl.log("cyrus: initial sync of %d messages" % n)
        runs["cyrus"] = sync_once("cyrus", cyrus.sync_argv(), cyrus.master_pid("replica"), peaks,
                                  os.path.join(cyrus.dir, "primary", "spool"))
        check_replica(doc, a, "cyrus", cyrus.primary["imap"], cyrus.replica["imap"], n)
    rm, cy = runs["replimail"], runs.get("cyrus")
    title = "initial sync of one user's INBOX to an empty replica"
    bl.add_figure(doc, "initial_sync_seconds", title, "s", "lower", n, rm["seconds"],
                  cy and cy["seconds"])
    bl.add_figure(doc, "initial_sync_rate", title, "msg/s", "higher", n,
                  round(n / rm["seconds"], 1), cy and round(n / cy["seconds"], 1))
    bl.add_figure(doc, "initial_sync_mb_per_s", title, "MB/s", "higher", n,
                  round(nbytes / rm["seconds"] / 1e6, 2),
                  cy and round(nbytes / cy["seconds"] / 1e6, 2))
    for prog in ("sync_client", "sync_server"):
        key = prog + "_peak_rss_kib"
        bl.add_figure(doc, prog + "_peak_rss", prog + " peak RSS during the initial sync", "MiB",
                      "lower", n, round(rm[key] / MIB, 1), cy and round(cy[key] / MIB, 1))
    bl.print_figures({"figures": doc["figures"][-5:]})


EXTRAPOLATE_TO = 1000000


def fit_line(points):
    """(intercept, slope) of the line through the two largest-x points. A
    peak cannot fall as the mailbox grows: a negative slope is noise between
    two runs (a fraction of a MiB at small sizes), and the line is then
    flat at the largest peak measured."""
    (x0, y0), (x1, y1) = sorted(points)[-2:]
    slope = (y1 - y0) / (x1 - x0)
    if slope < 0:
        return max(y for _, y in points), 0.0
    return y1 - slope * x1, slope


def extrapolate_memory(doc):
    """sync_client/sync_server peak RSS at EXTRAPOLATE_TO messages, along the
    line through the two largest measured sizes: stated as extrapolated."""
    runs = doc.get("sync", {})
    if len(runs) < 2:
        return
    sizes = sorted(int(n) for n in runs)
    out = doc.setdefault("extrapolated", {})
    for prog in ("sync_client", "sync_server"):
        key = prog + "_peak_rss_kib"
        mib = {}
        for side in ("replimail", "cyrus"):
            pts = [(n, runs[str(n)][side][key]) for n in sizes if side in runs[str(n)]]
            if len(pts) < 2:
                continue
            a, b = fit_line(pts)
            mib[side] = round((a + b * EXTRAPOLATE_TO) / MIB, 1)
            out.setdefault(side, {})[prog] = {
                "from_sizes": [p[0] for p in pts], "bytes_per_message": round(b * 1024, 1),
                "peak_rss_mib_at_%d" % EXTRAPOLATE_TO: mib[side]}
            bl.log("%s %s: %+.1f bytes per message; EXTRAPOLATED peak RSS at %d messages: "
                   "%.1f MiB (measured at %s)" % (side, prog, b * 1024, EXTRAPOLATE_TO,
                                                  mib[side], ", ".join(map(str, sizes))))
        if "replimail" in mib:
            bl.add_figure(doc, prog + "_peak_rss_extrapolated",
                          "%s peak RSS during the initial sync, EXTRAPOLATED (not measured) "
                          "along the line through n=%s (flat at the largest peak if it falls)"
                          % (prog, ",".join(map(str, sizes[-2:]))),
                          "MiB", "lower", EXTRAPOLATE_TO, mib["replimail"], mib.get("cyrus"))
    bl.print_figures({"figures": [f for f in doc["figures"]
                                  if f["name"].endswith("_extrapolated")]})


def check(doc, what, ok, detail):
    doc["checks"].append({"what": what, "ok": bool(ok), "detail": detail})
    if not ok:
        bl.log("CHECK FAILED: %s: %s" % (what, detail))


def parse_sizes(text):
    sizes = [int(x) for x in text.split(",") if x]
    if not sizes or sizes != sorted(set(sizes)) or sizes[0] <= 0:
        raise argparse.ArgumentTypeError("sizes must be ascending positive integers: %r" % text)
    return sizes


def main(argv=None, benchmark="growth", default_parts="sync,imap"):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=parse_sizes)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--parts", default=default_parts)
    ap.add_argument("-b", default=os.environ.get("BUILD_DIR",
                                                 os.path.join(bl.ROOT, "build-release")))
    ap.add_argument("-o")
    ap.add_argument("-p", default="/tmp/cyrus-peer-suite-growth")
    ap.add_argument("-c", type=int, default=8)
    ap.add_argument("-r", type=int)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--load", choices=("lmtp", "append"))
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--verify", action="store_true")
    ap.add_argument("--perf-sync", type=int, metavar="N")
    a = ap.parse_args(argv)
    load = a.load or ("append" if a.full else "lmtp")
    bl.exit_on_sigterm()
    sizes = a.n or parse_sizes("200,500,1000" if a.quick else
                               "1000,10000,100000" if a.full else "1000,10000")
    parts = set(a.parts.split(","))
    if not parts or parts - {"sync", "imap"}:
        ap.error("--parts takes sync, imap or both")
    bin_dir = os.path.abspath(a.b) + "/bin"
    if not os.access(bin_dir + "/master", os.X_OK):
        sys.exit("no %s/master; build first (bench/run builds build-release)" % bin_dir)
    out = a.o or os.path.join(bl.BENCH, "results", "%s-%s.json"
                              % (benchmark, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())))
    if not a.no_peer and bl.CyrusPeer.why_unavailable():
        sys.exit("cannot run the Cyrus peer: %s (or use --no-peer)"
                 % bl.CyrusPeer.why_unavailable())

    doc = bl.new_doc(benchmark, sizes=sizes, parts=sorted(parts), seed=a.seed, load=load,
                     load_conns=a.c,
                     complete=False, checks=[], steps=[])
    state = tempfile.mkdtemp(prefix="replimail-growth-")
    primary = bl.Replimail(bin_dir, state, "primary")
    cyrus = None if a.no_peer else bl.CyrusPeer(os.path.abspath(a.p))
    with bl.TreePeaks() as peaks:
        try:
            primary.start()
            primary.create_user()
            peaks.watch("replimail", primary.master_pid())
            sides = {"replimail": {"imap": primary.ports["imap"], "lmtp": primary.ports["lmtp"]}}
            if cyrus:
                cyrus.start()
                peaks.watch("cyrus", cyrus.master_pid("primary"))
                peaks.watch("cyrus", cyrus.master_pid("replica"))
                sides["cyrus"] = dict(cyrus.primary)
            # What starting did (Cyrus's START and first EVENTS, our own
            # opening of the databases) ends before the first timed load.
            bl.log("waiting 3 s for the instances just started to settle")
            time.sleep(3)
            have, nbytes = 0, 0
            for n in sizes:
                step = {"n": n, "machine_start": bl.machine(), "load": {}}
                rates = {}
                order = list(sides.items())
                if len(doc["steps"]) % 2:
                    order.reverse()
                for label, side in order:
                    t = time.monotonic()
                    os.sync()
                    bl.log("%s: sync(2) before loading took %.2f s (untimed)"
                           % (label, time.monotonic() - t))
                    bl.log("%s: loading messages %d..%d" % (label, have, n - 1))
                    if load == "lmtp":
                        d = bl.deliver(side["lmtp"], n - have, min(a.c, n - have), a.seed,
                                       label, first=have)
                    else:
                        d = bl.append(side["imap"], n - have, a.c, a.seed, label, first=have)
                    step["load"][label] = d
                    rates[label] = d["msgs_per_s"]
                    set_flags(side["imap"], have, n)
                nbytes += step["load"]["replimail"]["bytes"]
                if load == "lmtp":
                    name, title = ("lmtp_delivery_rate_growing", "LMTP delivery, %d "
                                   "connections, into a mailbox growing to n" % a.c)
                else:
                    name, title = ("imap_append_rate_growing", "IMAP MULTIAPPEND, 100 per "
                                   "command, %d sessions, into a mailbox growing to n" % a.c)
                bl.add_figure(doc, name, title, "msg/s", "higher", n, rates["replimail"],
                              rates.get("cyrus"))
                bl.print_figures({"figures": doc["figures"][-1:]})
                have = n
                if "imap" in parts:
                    repeat = a.r or (5 if n <= 3000 else 3 if n <= 30000 else 1)
                    measure_imap(doc, sides, n, repeat)
                if "sync" in parts:
                    measure_sync(doc, a, state, bin_dir, primary, cyrus, n, nbytes, peaks)
                step["bytes"] = nbytes
                step["machine_end"] = bl.machine()
                doc["steps"].append(step)
                doc["peak_rss_kib"] = peaks.result()
                bl.write_result(out, doc)
            extrapolate_memory(doc)
        except Exception as e:  # noqa: BLE001 — recorded, printed and the exit status
            check(doc, "the run completes", False, "%s: %s" % (type(e).__name__, e))
        finally:
            primary.stop()
            if cyrus:
                cyrus.stop()
            if not os.environ.get("KEEP_STATE"):
                shutil.rmtree(state, ignore_errors=True)
    bl.finish_doc(doc, peaks)
    doc["complete"] = len(doc["steps"]) == len(sizes)
    bl.write_result(out, doc)
    failed = [c for c in doc["checks"] if not c["ok"]]
    for c in failed:
        print("FAILED: %s: %s" % (c["what"], c["detail"]), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
